//! Build script shared by every crate whose binaries or tests use libtorch.
//!
//! Two link arguments make one binary serve CPU-only and GPU hosts without `LD_LIBRARY_PATH`
//! (see tch-rs issues #767, #907, #980):
//! - an rpath to the libtorch that torch-sys linked against (`DEP_TCH_LIBTORCH_LIB`, which cargo
//!   passes only to crates that list `torch-sys` as a direct dependency);
//! - `--no-as-needed -ltorch`, because Rust code references only `libtorch_cpu` symbols and the
//!   linker would otherwise drop `libtorch_cuda`, leaving CUDA unregistered at run time.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os != "linux" {
        return;
    }
    match std::env::var("DEP_TCH_LIBTORCH_LIB") {
        Ok(lib) => println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}"),
        Err(_) => println!(
            "cargo:warning=DEP_TCH_LIBTORCH_LIB is unset: add torch-sys as a direct dependency; \
             binaries will need LD_LIBRARY_PATH"
        ),
    }
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-ltorch");
    println!("cargo:rustc-link-arg=-Wl,--as-needed");
}
