// `WebSocket.send` as a plain V8 function (see src/js/v8_send.rs for why and what it returns).
//
// The arguments are read with V8's inline accessors instead of four N-API calls; the bytes go
// to Rust as a pointer and a length, strings as their handle. Anything unusual (a
// SharedArrayBuffer, a wrong type, a closed socket) is left to the N-API `wsSend`: this
// returns -1 having done nothing.
#include <cstddef>
#include <cstdint>

#include <v8.h>

#include "slot.h"

// Defined in Rust (src/js/v8_send.rs).
extern "C" int32_t uws_rs_v8_send_bytes(double key, int32_t flags, const uint8_t* data,
                                        size_t length);
extern "C" int32_t uws_rs_v8_send_string(double key, int32_t flags, void* string);

namespace {

// V8 keeps typed arrays of up to 64 bytes on its heap, without a buffer; asking for their
// buffer would allocate one for good (as N-API's napi_get_typedarray_info does).
constexpr size_t kOnHeapMax = 64;

void Send(const v8::FunctionCallbackInfo<v8::Value>& info) {
  int32_t status = -1;
  v8::Local<v8::Value> key = info[0];
  v8::Local<v8::Value> message = info[1];
  v8::Local<v8::Value> flags = info[2];
  if (key->IsNumber() && flags->IsInt32()) {
    double k = key.As<v8::Number>()->Value();
    int32_t f = flags.As<v8::Int32>()->Value();
    if (message->IsArrayBuffer()) {
      v8::Local<v8::ArrayBuffer> ab = message.As<v8::ArrayBuffer>();
      status = uws_rs_v8_send_bytes(k, f, static_cast<const uint8_t*>(ab->Data()),
                                    ab->ByteLength());
    } else if (message->IsArrayBufferView()) {
      v8::Local<v8::ArrayBufferView> view = message.As<v8::ArrayBufferView>();
      size_t length = view->ByteLength();
      if (!view->HasBuffer() && length <= kOnHeapMax) {
        uint8_t copy[kOnHeapMax];
        view->CopyContents(copy, length);
        status = uws_rs_v8_send_bytes(k, f, copy, length);
      } else {
        const uint8_t* base = static_cast<const uint8_t*>(view->Buffer()->Data());
        status = uws_rs_v8_send_bytes(k, f, base == nullptr ? nullptr : base + view->ByteOffset(),
                                      length);
      }
    } else if (message->IsString()) {
      status = uws_rs_v8_send_string(k, f, uws_rs::ToSlot(message));
    }
  }
  info.GetReturnValue().Set(status);
}

}  // namespace

// The function, made in the current context, as an napi_value; null if V8 refused.
extern "C" void* uws_rs_v8_send_function(void) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate == nullptr) return nullptr;
  v8::Local<v8::Function> fn;
  if (!v8::Function::New(isolate->GetCurrentContext(), Send, v8::Local<v8::Value>(), 3,
                         v8::ConstructorBehavior::kThrow)
           .ToLocal(&fn)) {
    return nullptr;
  }
  return uws_rs::ToSlot(fn);
}
