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

/// A device as a config or a flag names it: `auto` (the GPU if any, else the CPU), `cpu`,
/// `cuda` or `cuda:N`. Parsed once, when the config is read; [`DeviceSetting::resolve`] then
/// gives the device on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceSetting {
    /// The GPU if libtorch sees one, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// A GPU: `None` for `cuda`, the GPU of the process's local rank.
    Cuda(Option<usize>),
}

impl std::str::FromStr for DeviceSetting {
    type Err = DeviceError;

    fn from_str(name: &str) -> Result<Self, DeviceError> {
        match name.trim() {
            "auto" => Ok(DeviceSetting::Auto),
            "cpu" => Ok(DeviceSetting::Cpu),
            "cuda" => Ok(DeviceSetting::Cuda(None)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse::<usize>().ok())
                .map(|n| DeviceSetting::Cuda(Some(n)))
                .ok_or_else(|| DeviceError::Unknown(name.to_string())),
        }
    }
}

impl TryFrom<String> for DeviceSetting {
    type Error = DeviceError;

    fn try_from(name: String) -> Result<Self, DeviceError> {
        name.parse()
    }
}

impl std::fmt::Display for DeviceSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceSetting::Auto => write!(f, "auto"),
            DeviceSetting::Cpu => write!(f, "cpu"),
            DeviceSetting::Cuda(None) => write!(f, "cuda"),
            DeviceSetting::Cuda(Some(n)) => write!(f, "cuda:{n}"),
        }
    }
}

impl From<DeviceSetting> for String {
    fn from(d: DeviceSetting) -> String {
        d.to_string()
    }
}

impl DeviceSetting {
    /// The device on this host for the process of local rank `local_rank` (0 outside data
    /// parallelism): `auto` and `cuda` mean that rank's GPU, `cuda:N` GPU N, checked to exist.
    pub fn resolve(self, local_rank: usize) -> Result<Device, DeviceError> {
        let available = Cuda::device_count().max(0) as usize;
        let index = match self {
            DeviceSetting::Cpu => return Ok(Device::Cpu),
            DeviceSetting::Auto if available == 0 => return Ok(Device::Cpu),
            DeviceSetting::Auto | DeviceSetting::Cuda(None) => local_rank,
            DeviceSetting::Cuda(Some(n)) => n,
        };
        if index >= available {
            return Err(DeviceError::Unavailable { name: self.to_string(), available });
        }
        Ok(Device::Cuda(index))
    }
}

/// Parses `cpu`, `cuda` (= `cuda:0`), `cuda:N` or `auto` (the first GPU if any, else the CPU),
/// checking that the device exists here.
pub fn parse_device(name: &str) -> Result<Device, DeviceError> {
    name.parse::<DeviceSetting>()?.resolve(0)
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

    #[test]
    fn a_setting_reads_back_as_written_and_cuda_follows_the_local_rank() {
        for name in ["auto", "cpu", "cuda", "cuda:3"] {
            let d: DeviceSetting = name.parse().unwrap();
            assert_eq!(d.to_string(), name);
        }
        let read: DeviceSetting = serde_json::from_str("\"cuda:1\"").unwrap();
        assert_eq!(read, DeviceSetting::Cuda(Some(1)));
        let err = serde_json::from_str::<DeviceSetting>("\"gpu\"").unwrap_err().to_string();
        assert!(err.contains("expected cpu, cuda, cuda:N or auto"), "{err}");
        assert_eq!(DeviceSetting::Cpu.resolve(5).unwrap(), Device::Cpu);
        let gpus = runtime_report().cuda_devices;
        if gpus == 0 {
            assert_eq!(DeviceSetting::Auto.resolve(1).unwrap(), Device::Cpu);
            assert!(matches!(DeviceSetting::Cuda(None).resolve(0), Err(DeviceError::Unavailable { .. })));
        } else {
            assert_eq!(DeviceSetting::Auto.resolve(gpus - 1).unwrap(), Device::Cuda(gpus - 1));
        }
    }
}
