//! `doctor`: what this host offers the training binaries, and the exact fix for each problem —
//! the libtorch actually loaded and its version, CPU bf16, CUDA devices and bf16 on them, NCCL,
//! the launcher environment, and free disk where runs are written.

use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};

/// The libtorch version the binaries are built against (tch 0.24).
pub const EXPECTED_LIBTORCH: &str = "2.11.0";

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but something is worth knowing (or slower than it could be).
    Warn,
    /// Training will fail or be wrong until fixed.
    Fail,
}

/// One check: its name, what was found, and the fix when it is not fine.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// The outcome.
    pub status: Status,
    /// What was found.
    pub found: String,
    /// What to do about it.
    pub fix: Option<String>,
}

/// What the host offers; `nccl_built` says whether this binary has the NCCL backend (`None`:
/// a single-process stage, where NCCL does not matter), `out_dir` where runs go.
pub fn checks(nccl_built: Option<bool>, out_dir: &Path) -> Vec<Check> {
    let mut out = vec![libtorch_check(), cpu_check()];
    out.extend(cuda_checks(nccl_built));
    out.push(launcher_check());
    out.push(disk_check(out_dir));
    out
}

/// The report, one line per check with its fix; and whether nothing failed.
pub fn render(checks: &[Check]) -> (String, bool) {
    let mut text = String::new();
    for c in checks {
        let mark = match c.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        text += &format!("[{mark}] {:<10} {}\n", c.name, c.found);
        if let Some(fix) = &c.fix {
            text += &format!("       {:<10} fix: {fix}\n", "");
        }
    }
    (text, checks.iter().all(|c| c.status != Status::Fail))
}

fn check(name: &'static str, status: Status, found: String, fix: Option<String>) -> Check {
    Check { name, status, found, fix }
}

/// The directory of the libtorch this process loaded, from its memory map.
fn loaded_libtorch() -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let line = maps.lines().find(|l| l.ends_with("/libtorch_cpu.so"))?;
    let path = PathBuf::from(line.split_whitespace().last()?);
    Some(path.parent()?.to_path_buf())
}

fn libtorch_check() -> Check {
    let Some(lib) = loaded_libtorch() else {
        return check(
            "libtorch",
            Status::Warn,
            "loaded, but its path is unknown on this system (no /proc/self/maps)".into(),
            None,
        );
    };
    // The wheel's torch/version.py sits next to lib/.
    let version = std::fs::read_to_string(lib.join("../version.py")).ok().and_then(|text| {
        text.lines()
            .find(|l| l.starts_with("__version__"))
            .and_then(|l| l.split('\'').nth(1).or_else(|| l.split('"').nth(1)))
            .map(String::from)
    });
    match version {
        Some(v) if v.split('+').next() == Some(EXPECTED_LIBTORCH) => {
            check("libtorch", Status::Ok, format!("{v} from {}", lib.display()), None)
        }
        Some(v) => check(
            "libtorch",
            Status::Fail,
            format!("{v} from {}, but the binaries are built for {EXPECTED_LIBTORCH}", lib.display()),
            Some(format!(
                "point LD_LIBRARY_PATH at the lib/ of a torch=={EXPECTED_LIBTORCH} install, or rebuild after \
                 ./scripts/setup.sh"
            )),
        ),
        None => check("libtorch", Status::Ok, format!("{} (version file not found)", lib.display()), None),
    }
}

/// A bf16 matmul agrees with f32 to bf16 precision on `device`.
fn bf16_matmul_works(device: Device) -> bool {
    let run = || -> Result<bool, tch::TchError> {
        let a = Tensor::f_linspace(-1.0, 1.0, 64 * 64, (Kind::Float, device))?.f_reshape([64, 64])?;
        let exact = a.f_matmul(&a)?;
        let low = a.f_to_kind(Kind::BFloat16)?.f_matmul(&a.f_to_kind(Kind::BFloat16)?)?.f_to_kind(Kind::Float)?;
        let error = (exact - low).f_abs()?.f_max()?.f_double_value(&[])?;
        Ok(error < 0.1)
    };
    run().unwrap_or(false)
}

fn cpu_check() -> Check {
    let flags = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let isa = ["amx_bf16", "avx512_bf16", "avx512f", "avx2"]
        .iter()
        .find(|f| flags.split_whitespace().any(|w| w == **f))
        .copied()
        .unwrap_or("baseline");
    let threads = tch::get_num_threads();
    let bf16 = bf16_matmul_works(Device::Cpu);
    let found = format!(
        "{threads} threads, best ISA {isa}, bf16 matmul {}, f32 matmuls on {}",
        if bf16 { "works" } else { "fails" },
        model::linear::cpu_gemm()
    );
    if !bf16 {
        return check("cpu", Status::Warn, found, Some("train on CPU in f32 (dtype = \"f32\")".into()));
    }
    let single = threads == 1 && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    if single {
        return check(
            "cpu",
            Status::Warn,
            found,
            Some("libtorch uses 1 thread although more cores exist: unset OMP_NUM_THREADS or raise it".into()),
        );
    }
    check("cpu", Status::Ok, found, None)
}

fn cuda_checks(nccl_built: Option<bool>) -> Vec<Check> {
    let devices = tch::Cuda::device_count().max(0);
    let nvidia_smi = Path::new("/usr/bin/nvidia-smi").exists() || Path::new("/dev/nvidia0").exists();
    if devices == 0 {
        let (status, fix) = if nvidia_smi {
            (
                Status::Fail,
                Some(
                    "this host has an NVIDIA GPU that libtorch cannot use: check `nvidia-smi`, that the driver \
                     supports CUDA 13 (torch 2.11 wheels), and that the binary links libtorch_cuda \
                     (`readelf -d target/release/pretrain | grep torch`)"
                        .into(),
                ),
            )
        } else {
            (Status::Ok, None)
        };
        return vec![check("cuda", status, "no device visible (CPU only)".into(), fix)];
    }
    let bf16 = (0..devices as usize).all(|d| bf16_matmul_works(Device::Cuda(d)));
    let mut out = vec![check(
        "cuda",
        if bf16 { Status::Ok } else { Status::Warn },
        format!(
            "{devices} device(s), cuDNN {}, bf16 {}",
            tch::Cuda::cudnn_is_available(),
            if bf16 { "works" } else { "fails" }
        ),
        (!bf16).then(|| "this GPU has no bf16: set dtype = \"f32\"".into()),
    )];
    let Some(nccl_built) = nccl_built else { return out };
    let loaded = std::fs::read_to_string("/proc/self/maps").unwrap_or_default().contains("libnccl.so");
    out.push(match (nccl_built, loaded) {
        (true, true) => check("nccl", Status::Ok, "built in, libnccl.so.2 loaded".into(), None),
        (true, false) => check(
            "nccl",
            Status::Warn,
            "built in, but libnccl.so.2 is not loaded yet".into(),
            Some("if a multi-GPU run fails to start, check that the nvidia-nccl-cu13 wheel is installed".into()),
        ),
        (false, _) => check(
            "nccl",
            if devices > 1 { Status::Fail } else { Status::Warn },
            "this binary has no NCCL backend (multi-GPU runs need it)".into(),
            Some("build with scripts/gpu/build.sh (cargo feature `nccl`) and run target/gpu/pretrain".into()),
        ),
    });
    out
}

fn launcher_check() -> Check {
    let var = |k: &str| std::env::var(k).ok();
    let found = match (var("RANK"), var("WORLD_SIZE"), var("SLURM_PROCID"), var("SLURM_NTASKS")) {
        (Some(r), Some(w), _, _) => format!(
            "torchrun-style: rank {r} of {w}, rendezvous {}:{}",
            var("MASTER_ADDR").unwrap_or_else(|| "?".into()),
            var("MASTER_PORT").unwrap_or_else(|| "?".into())
        ),
        (_, _, Some(r), Some(n)) => format!(
            "SLURM: task {r} of {n}, rendezvous {}:{}",
            var("MASTER_ADDR").unwrap_or_else(|| "(MASTER_ADDR unset)".into()),
            var("MASTER_PORT").unwrap_or_else(|| "29500".into())
        ),
        _ => "single process (no RANK/WORLD_SIZE or SLURM_* variables)".into(),
    };
    let several = var("WORLD_SIZE").or_else(|| var("SLURM_NTASKS")).is_some_and(|n| n != "1");
    if several && var("MASTER_ADDR").is_none() {
        return check(
            "launcher",
            Status::Fail,
            found,
            Some(
                "export MASTER_ADDR (the host of rank 0) and MASTER_PORT; under SLURM, in the batch script: \
                 export MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)"
                    .into(),
            ),
        );
    }
    check("launcher", Status::Ok, found, None)
}

/// Bytes free for an unprivileged user on the file system of `path` (or its nearest existing
/// ancestor).
fn free_bytes(path: &Path) -> Option<u64> {
    let mut p = path.to_path_buf();
    while !p.exists() {
        p = p.parent()?.to_path_buf();
    }
    let c = std::ffi::CString::new(p.to_string_lossy().as_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `s` a writable statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut s) };
    (rc == 0).then(|| s.f_bavail as u64 * s.f_frsize as u64)
}

fn disk_check(out_dir: &Path) -> Check {
    let Some(free) = free_bytes(out_dir) else {
        return check("disk", Status::Warn, format!("free space under {} unknown", out_dir.display()), None);
    };
    let gib = free as f64 / (1u64 << 30) as f64;
    let found = format!("{gib:.1} GiB free under {}", out_dir.display());
    // A BERT-base checkpoint with its AdamW moments is ~1.3 GB; keep_last 3 + best + final.
    if gib < 2.0 {
        check(
            "disk",
            Status::Fail,
            found,
            Some("free space or point out_dir/output_dir elsewhere: a checkpoint needs room to be written".into()),
        )
    } else if gib < 10.0 {
        check(
            "disk",
            Status::Warn,
            found,
            Some(
                "enough for small models; BERT-base runs keep ~6 GB of checkpoints (lower checkpoint.keep_last)".into(),
            ),
        )
    } else {
        check("disk", Status::Ok, found, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_finds_this_libtorch_and_names_fixes() {
        let tmp = tempfile::tempdir().unwrap();
        let all = checks(Some(false), &tmp.path().join("not/yet/created"));
        let names: Vec<&str> = all.iter().map(|c| c.name).collect();
        assert_eq!(&names[..2], ["libtorch", "cpu"]);
        assert!(names.contains(&"disk") && names.contains(&"launcher"));
        let libtorch = &all[0];
        assert_eq!(libtorch.status, Status::Ok, "{libtorch:?}");
        assert!(libtorch.found.starts_with(EXPECTED_LIBTORCH), "{libtorch:?}");
        assert!(free_bytes(tmp.path()).is_some_and(|b| b > 0));
        let (text, _) = render(&all);
        assert!(text.contains("[ok  ] libtorch"), "{text}");
        let failing = [check("disk", Status::Fail, "1 GiB".into(), Some("free space".into()))];
        let (text, ok) = render(&failing);
        assert!(!ok && text.contains("fix: free space"), "{text}");
    }
}
