//! Device names as users type them, and what the linked libtorch offers on this host.

use tch::{Cuda, Device};

/// A device name that cannot be used on this host.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The name is not one of `cpu`, `cuda`, `cuda:N`, `auto`.
    #[error("unknown device {0:?}: expected cpu, cuda, cuda:N or auto")]
    Unknown(String),
    /// A CUDA device was asked for but libtorch sees none (or fewer).
    #[error(
        "device {name:?} asked for, but libtorch sees {available} CUDA device(s); \
         run `pretrain doctor` to see why, or use --device cpu"
    )]
    Unavailable {
        /// The name as given.
        name: String,
        /// CUDA devices libtorch can use.
        available: usize,
    },
}

/// Parses `cpu`, `cuda` (= `cuda:0`), `cuda:N` or `auto` (the first GPU if any, else the CPU),
/// checking that the device exists here.
pub fn parse_device(name: &str) -> Result<Device, DeviceError> {
    let available = Cuda::device_count().max(0) as usize;
    let index = match name.trim() {
        "cpu" => return Ok(Device::Cpu),
        "auto" => return Ok(if available > 0 { Device::Cuda(0) } else { Device::Cpu }),
        "cuda" => 0,
        other => other
            .strip_prefix("cuda:")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| DeviceError::Unknown(name.to_string()))?,
    };
    if index >= available {
        return Err(DeviceError::Unavailable { name: name.to_string(), available });
    }
    Ok(Device::Cuda(index))
}

/// What the linked libtorch can do on this host.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeReport {
    /// CUDA devices visible to libtorch (0 on CPU-only hosts).
    pub cuda_devices: usize,
    /// Whether cuDNN is usable.
    pub cudnn: bool,
    /// Intra-op threads libtorch uses for CPU kernels.
    pub cpu_threads: i32,
    /// The library of CPU f32 linear layers: see [`crate::linear::linear`].
    pub cpu_gemm: crate::linear::CpuGemm,
}

/// Asks libtorch what it offers; never fails (a CPU-only host is a valid answer).
pub fn runtime_report() -> RuntimeReport {
    RuntimeReport {
        cuda_devices: Cuda::device_count().max(0) as usize,
        cudnn: Cuda::cudnn_is_available(),
        cpu_threads: tch::get_num_threads(),
        cpu_gemm: crate::linear::cpu_gemm(),
    }
}

impl std::fmt::Display for RuntimeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "libtorch: linked (tch 0.24, libtorch 2.11), {} CPU threads, f32 matmuls on {}",
            self.cpu_threads, self.cpu_gemm
        )?;
        if self.cuda_devices == 0 {
            write!(f, "CUDA: no device visible (CPU only)")
        } else {
            write!(f, "CUDA: {} device(s), cuDNN {}", self.cuda_devices, if self.cudnn { "yes" } else { "no" })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    #[test]
    fn cpu_and_auto_resolve_and_libtorch_computes() {
        assert_eq!(parse_device("cpu").unwrap(), Device::Cpu);
        let auto = parse_device("auto").unwrap();
        assert_eq!(auto == Device::Cpu, runtime_report().cuda_devices == 0);
        // A real libtorch kernel, through the rpath set by the build script.
        let x = Tensor::arange(6, (Kind::Float, Device::Cpu)).reshape([2, 3]);
        let y = x.matmul(&x.tr());
        assert_eq!(Vec::<f32>::try_from(y.flatten(0, -1)).unwrap(), vec![5.0, 14.0, 14.0, 50.0]);
    }

    #[test]
    fn bad_names_are_refused_with_the_name() {
        let err = parse_device("gpu0").unwrap_err().to_string();
        assert!(err.contains("\"gpu0\""), "{err}");
        assert!(matches!(parse_device("cuda:x"), Err(DeviceError::Unknown(_))));
        if runtime_report().cuda_devices == 0 {
            let err = parse_device("cuda:0").unwrap_err();
            assert!(matches!(err, DeviceError::Unavailable { available: 0, .. }));
        }
    }
}
