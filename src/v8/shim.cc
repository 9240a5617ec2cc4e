// ArrayBuffers over uws-rs's own memory, made through V8 directly (see src/v8_direct.rs).
//
// N-API can only give a message a fresh ArrayBuffer (allocated, zero-filled, then copied into)
// or an "external" one, which Node builds as a Buffer with a tracked finalizer (about a
// microsecond each). uWebSockets.js wraps its receive buffer in a V8 backing store with no
// allocation at all; this file does the same. It is compiled against the headers of the Node
// that builds the addon, and used only when the running Node has the same major version
// (v8_direct.rs checks), so the V8 ABI matches.
#include <cstddef>
#include <memory>
#include <utility>

#include <node_version.h>
#include <v8.h>

#include "slot.h"

// Defined in Rust: releases what `hint` holds (called by V8 when the backing store dies, on
// whatever thread drops it last).
extern "C" void uws_rs_v8_release(void* hint);

extern "C" int uws_rs_v8_node_major(void) { return NODE_MAJOR_VERSION; }

// An ArrayBuffer over data[0..length) in the current isolate's current handle scope, as an
// napi_value (slot.h). V8 calls uws_rs_v8_release(hint) when it frees the store.
extern "C" void* uws_rs_v8_arraybuffer(void* data, size_t length, void* hint) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate == nullptr) return nullptr;
  std::unique_ptr<v8::BackingStore> store = v8::ArrayBuffer::NewBackingStore(
      data, length, [](void*, size_t, void* h) { uws_rs_v8_release(h); }, hint);
  v8::Local<v8::ArrayBuffer> ab = v8::ArrayBuffer::New(isolate, std::move(store));
  return uws_rs::ToSlot(ab);
}

// Detaches a message ArrayBuffer once its handler returned, unless JS already detached it (by
// transferring it); returns 1 in that case. N-API's pair of calls (napi_is_detached_arraybuffer,
// napi_detach_arraybuffer) costs about 170 more instructions per message: two preambles and the
// keyed Detach, which enters the context to check a detach key that none of our buffers has.
extern "C" int uws_rs_v8_detach(void* value) {
  v8::Local<v8::ArrayBuffer> ab = uws_rs::FromSlot<v8::ArrayBuffer>(value);
  if (ab->WasDetached()) return 1;
#if V8_MAJOR_VERSION < 12
  // The keyless form: no context entered (what uWebSockets.js calls). Deprecated later.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  ab->Detach();
#pragma GCC diagnostic pop
#else
  (void)ab->Detach(v8::Local<v8::Value>()).IsNothing();
#endif
  return 0;
}
