//! Compiles `shim/c10d.cpp` against the torch wheel's headers (the libtorch that torch-sys links)
//! and Debian's Gloo headers in `.deps/gloo` (fetched by `scripts/setup.sh`), then adds the link
//! arguments of `../link_libtorch.rs`, which a crate cannot share with a build script of its own.

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    if let Err(message) = run() {
        // Cargo shows a failed build script's stderr: the message, without a panic's backtrace.
        eprintln!("\ndistributed: {message}\n");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=shim/c10d.cpp");
    println!("cargo:rerun-if-env-changed=GLOO_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let root = manifest.parent().and_then(Path::parent).unwrap_or(&manifest).to_path_buf();

    let lib = env::var("DEP_TCH_LIBTORCH_LIB")
        .map_err(|_| "DEP_TCH_LIBTORCH_LIB is unset: torch-sys must be a direct dependency of this crate".to_owned())?;
    let lib = PathBuf::from(lib);
    let torch = lib.parent().ok_or_else(|| format!("{} has no parent folder", lib.display()))?;
    let torch_include = torch.join("include");
    let c10d_header = torch_include.join("torch/csrc/distributed/c10d/ProcessGroupGloo.hpp");
    if !c10d_header.is_file() {
        return Err(format!(
            "{} is missing: the libtorch at {} does not ship the c10d headers; run ./scripts/setup.sh",
            c10d_header.display(),
            torch.display()
        ));
    }

    let gloo_include = match env::var("GLOO_INCLUDE_DIR") {
        Ok(dir) => PathBuf::from(dir),
        Err(_) => root.join(".deps/gloo/usr/include"),
    };
    println!("cargo:rerun-if-changed={}", gloo_include.join("gloo/config.h").display());
    if !gloo_include.join("gloo/config.h").is_file() {
        return Err(format!(
            "the Gloo headers are missing ({} has no gloo/config.h): run ./scripts/setup.sh, which \
             extracts Debian's libgloo-dev into .deps/gloo (or set GLOO_INCLUDE_DIR)",
            gloo_include.display()
        ));
    }

    // torch-sys compiles libtch with the same ABI setting (LIBTORCH_CXX11_ABI, default 1); the
    // torch 2.11 wheel is built with the C++11 ABI.
    let abi = env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_owned());
    let mut build = cc::Build::new();
    build.cpp(true).pic(true).warnings(true).extra_warnings(true).file(manifest.join("shim/c10d.cpp"));
    build.flag("-std=c++17").flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}")).flag("-DGLOG_USE_GLOG_EXPORT");
    build.define("USE_C10D_GLOO", None);
    // -isystem: the torch and Gloo headers' own warnings stay quiet, the shim's are shown.
    let mut system_includes =
        vec![torch_include.clone(), torch_include.join("torch/csrc/api/include"), gloo_include.clone()];
    let nccl = env::var_os("CARGO_FEATURE_NCCL").is_some();
    if nccl {
        build.define("USE_C10D_NCCL", None);
        system_includes.extend(cuda_includes(torch)?);
    }
    for dir in &system_includes {
        build.flag("-isystem").flag(dir.display().to_string());
    }
    build.compile("c10d_shim");

    // The shim's symbols live in these; tch already links them, listed here for the order.
    println!("cargo:rustc-link-search=native={}", lib.display());
    if nccl {
        println!("cargo:rustc-link-lib=dylib=torch_cuda");
        println!("cargo:rustc-link-lib=dylib=c10_cuda");
    }
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
    link_libtorch(&lib);
    Ok(())
}

/// The CUDA, CCCL and NCCL headers that ProcessGroupNCCL.hpp includes, from the nvidia-* wheels
/// installed beside torch (nvidia-nccl-cu13 comes with torch; the others with
/// scripts/requirements-nccl.txt).
fn cuda_includes(torch: &Path) -> Result<Vec<PathBuf>, String> {
    let nvidia = torch.join("../nvidia");
    let dirs = vec![nvidia.join("cu13/include"), nvidia.join("cu13/include/cccl"), nvidia.join("nccl/include")];
    let needed = [
        (dirs[0].join("cuda_runtime_api.h"), "nvidia-cuda-runtime"),
        (dirs[0].join("crt/host_config.h"), "nvidia-cuda-crt"),
        (dirs[1].join("nv/target"), "nvidia-cuda-cccl"),
        (dirs[2].join("nccl.h"), "nvidia-nccl-cu13"),
    ];
    for (path, package) in needed {
        if !path.exists() {
            return Err(format!(
                "feature `nccl` needs {} (PyPI {package}); install the CUDA header wheels with: \
                 .venv/bin/python -m pip install -r scripts/requirements-nccl.txt",
                path.display()
            ));
        }
    }
    Ok(dirs)
}

/// Same as `../link_libtorch.rs`: an rpath to the libtorch torch-sys linked, and `-ltorch` kept
/// even though Rust references only `libtorch_cpu` symbols, so CUDA is registered at run time.
fn link_libtorch(lib: &Path) {
    if env::var("CARGO_CFG_TARGET_OS").unwrap_or_default() != "linux" {
        return;
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-ltorch");
    println!("cargo:rustc-link-arg=-Wl,--as-needed");
}
