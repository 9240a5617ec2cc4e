//! Build script: N-API link setup, and the optional V8-direct shim (src/v8/shim.cc).
//!
//! The shim needs the headers of the Node that will load the addon (v8.h, node_version.h).
//! They are looked up in `UWS_RS_NODE_INCLUDE`, else next to the `node` on PATH
//! (`<prefix>/include/node`). Without them the addon builds without the shim and always uses
//! N-API (`UWS_RS_NO_V8_SHIM=1` forces that).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    napi_build::setup();
    println!("cargo::rustc-check-cfg=cfg(uws_v8)");
    println!("cargo:rerun-if-changed=src/v8/shim.cc");
    println!("cargo:rerun-if-changed=src/v8/ws_send.cc");
    println!("cargo:rerun-if-changed=src/v8/call.cc");
    println!("cargo:rerun-if-changed=src/v8/slot.h");
    println!("cargo:rerun-if-env-changed=UWS_RS_NODE_INCLUDE");
    println!("cargo:rerun-if-env-changed=UWS_RS_NO_V8_SHIM");
    if std::env::var_os("UWS_RS_NO_V8_SHIM").is_some() {
        return;
    }
    // Linux only: that is where it is built and tested (and `-z lazy` below is an ELF flag).
    let target = std::env::var("TARGET").unwrap_or_default();
    if !target.contains("linux") {
        return;
    }
    let Some(include) = node_include() else {
        println!(
            "cargo:warning=uws-rs: Node headers not found; building without the V8-direct path"
        );
        return;
    };
    let built = cc::Build::new()
        .cpp(true)
        .std("c++17")
        .file("src/v8/shim.cc")
        .file("src/v8/ws_send.cc")
        .file("src/v8/call.cc")
        .include(&include)
        .flag_if_supported("-fno-exceptions")
        .flag_if_supported("-fno-rtti")
        .flag_if_supported("-Wno-unused-parameter")
        .try_compile("uws_v8_shim");
    match built {
        Ok(()) => {
            println!("cargo:rustc-cfg=uws_v8");
            // Resolve the V8 symbols when first called, not at load: a Node whose V8 lacks
            // them still loads the addon (the shim is then never called: major versions differ).
            println!("cargo:rustc-cdylib-link-arg=-Wl,-z,lazy");
        }
        Err(e) => println!("cargo:warning=uws-rs: V8 shim not built ({e}); using N-API only"),
    }
}

fn node_include() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("UWS_RS_NODE_INCLUDE") {
        return Some(PathBuf::from(dir));
    }
    let out = Command::new("node")
        .args(["-p", "process.execPath"])
        .output()
        .ok()?;
    let exec = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    let dir = exec.parent()?.parent()?.join("include").join("node");
    (dir.join("v8.h").is_file() && dir.join("node_version.h").is_file()).then_some(dir)
}
