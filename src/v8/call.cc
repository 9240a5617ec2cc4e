// Application callbacks called through V8 directly (see src/js/v8_call.rs).
#include <cstddef>

#include <v8.h>

#include "slot.h"

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
  v8::Local<v8::Value> callee = uws_rs::FromSlot<v8::Value>(func);
  if (context.IsEmpty() || !callee->IsFunction()) return 2;
  v8::TryCatch try_catch(isolate);
  // An array of napi_values is an array of Local slots (slot.h), as N-API itself passes it.
  v8::Local<v8::Value>* args =
      reinterpret_cast<v8::Local<v8::Value>*>(const_cast<void**>(argv));
  v8::Local<v8::Value> result;
  if (callee.As<v8::Function>()->Call(context, v8::Undefined(isolate), static_cast<int>(argc), args)
          .ToLocal(&result)) {
    *out = uws_rs::ToSlot(result);
    return 0;
  }
  if (!try_catch.HasCaught() || !try_catch.CanContinue()) return 3;
  *out = uws_rs::ToSlot(try_catch.Exception());
  return 1;
}
