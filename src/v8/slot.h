// napi_value <-> v8::Local. Node's napi_value is the address of a v8::Local's slot
// (v8impl::JsValueFromV8LocalValue), so the two convert by copying that one pointer. Shared by
// the shim's files; valid only where the V8 ABI matches (src/js/v8_direct.rs checks).
#ifndef UWS_RS_V8_SLOT_H_
#define UWS_RS_V8_SLOT_H_

#include <cstring>

#include <v8.h>

namespace uws_rs {

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
  static_assert(sizeof(local) == sizeof(slot), "a Local is one pointer");
  std::memcpy(&slot, static_cast<void*>(&local), sizeof(slot));
  return slot;
}

}  // namespace uws_rs

#endif  // UWS_RS_V8_SLOT_H_
