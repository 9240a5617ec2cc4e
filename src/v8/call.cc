// Application callbacks called through V8 directly (see src/js/v8_call.rs).
#include <cstddef>
#include <cstring>

#include <v8.h>

namespace {

template <typename T>
v8::Local<T> FromSlot(void* slot) {
  v8::Local<T> local;
  static_assert(sizeof(local) == sizeof(slot), "a Local is one pointer");
  std::memcpy(static_cast<void*>(&local), &slot, sizeof(slot));
  return local;
}

template <typename T>
void* ToSlot(v8::Local<T> local) {
  void* slot;
  std::memcpy(&slot, static_cast<void*>(&local), sizeof(slot));
  return slot;
}

}  // namespace

// Calls `func` with `this` undefined in the isolate's entered context (Node keeps its
// context entered while its loop runs). Returns 0 with *out = the result, 1 with *out = the
// exception it threw (caught), 2 having called nothing (no context, not a function: the
// caller goes through N-API, which reports those its own way) or 3 if execution is being
// terminated (a worker's terminate(), process exit): nothing to report then.
extern "C" int uws_rs_v8_call(void* func, size_t argc, void* const* argv, void** out) {
  *out = nullptr;
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate == nullptr) return 2;
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Value> callee = FromSlot<v8::Value>(func);
  if (context.IsEmpty() || !callee->IsFunction()) return 2;
  v8::TryCatch try_catch(isolate);
  v8::Local<v8::Value>* args =
      reinterpret_cast<v8::Local<v8::Value>*>(const_cast<void**>(argv));
  v8::Local<v8::Value> result;
  if (callee.As<v8::Function>()->Call(context, v8::Undefined(isolate), static_cast<int>(argc), args)
          .ToLocal(&result)) {
    *out = ToSlot(result);
    return 0;
  }
  if (!try_catch.HasCaught() || !try_catch.CanContinue()) return 3;
  *out = ToSlot(try_catch.Exception());
  return 1;
}
