//! A c10d process group: collectives over tch tensors with PyTorch's own Gloo or NCCL backend.

use std::marker::PhantomData;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tch::{Device, Kind, Tensor};

use crate::bucket::{self, DEFAULT_BUCKET_BYTES};
use crate::env::{Launch, Launcher};
use crate::error::{DistError, Result};
use crate::ffi;

/// The collective engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Gloo, on CPU tensors: always compiled in.
    Gloo,
    /// NCCL, on CUDA tensors: needs the `nccl` cargo feature.
    Nccl,
}

impl Backend {
    /// The backend torch.distributed uses for tensors on `device`: NCCL for CUDA, Gloo otherwise.
    pub fn for_device(device: Device) -> Backend {
        match device {
            Device::Cuda(_) => Backend::Nccl,
            _ => Backend::Gloo,
        }
    }

    /// `gloo` or `nccl`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Gloo => "gloo",
            Backend::Nccl => "nccl",
        }
    }

    /// Whether this build includes the backend.
    pub fn is_compiled(self) -> bool {
        match self {
            Backend::Gloo => true,
            Backend::Nccl => cfg!(feature = "nccl"),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Backend {
    type Err = DistError;

    fn from_str(s: &str) -> Result<Backend> {
        match s {
            "gloo" => Ok(Backend::Gloo),
            "nccl" => Ok(Backend::Nccl),
            other => Err(DistError::Unsupported {
                backend: other.to_owned(),
                hint: "the backends are gloo (CPU) and nccl (CUDA)".to_owned(),
            }),
        }
    }
}

/// A group of ranks that run collectives together: one per process, like torch.distributed's
/// default process group.
///
/// Every rank must call the same collectives in the same order with tensors of the same shapes and
/// dtypes; a rank that stops taking part makes the others fail with [`DistError::PeerLost`] or,
/// after the timeout, [`DistError::Timeout`], never hang.
///
/// Collectives block until complete on the host for Gloo; for NCCL they are ordered on the CUDA
/// stream like PyTorch's, and NCCL's watchdog enforces the timeout (by default it ends the process
/// on a timeout, as in PyTorch; set `TORCH_NCCL_BLOCKING_WAIT=1` to get errors returned instead).
///
/// Thread safety: a process group is used from one thread at a time (it is `Send`, not `Sync`),
/// like a c10d process group, whose collectives must be issued in one order on every rank.
///
/// With a world of one rank no store or backend is created: collectives return their input.
pub struct ProcessGroup {
    launch: Launch,
    backend: Backend,
    timeout: Duration,
    device: Device,
    bucket_bytes: usize,
    handle: Option<ffi::Handle>,
    /// Not `Sync`: collectives from two threads could interleave differently on different ranks.
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

impl std::fmt::Debug for ProcessGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessGroup")
            .field("rank", &self.launch.rank())
            .field("world_size", &self.launch.world_size())
            .field("backend", &self.backend)
            .field("device", &self.device)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ProcessGroup {
    /// Joins the group: rank 0 starts the rendezvous store (unless torchrun's agent serves it),
    /// every rank connects and the backend connects all ranks. Blocks until every rank has joined;
    /// fails after `timeout` if one does not. The same `timeout` bounds every collective.
    ///
    /// Under NCCL the rank's device is `cuda:<local rank>`.
    pub fn new(launch: &Launch, backend: Backend, timeout: Duration) -> Result<ProcessGroup> {
        if !backend.is_compiled() {
            return Err(DistError::Unsupported {
                backend: backend.name().to_owned(),
                hint:
                    "rebuild with the `nccl` cargo feature of the distributed crate (scripts/gpu/build.sh; see docs/distributed.md)"
                        .to_owned(),
            });
        }
        let device = match backend {
            Backend::Gloo => Device::Cpu,
            Backend::Nccl => {
                let gpus = tch::Cuda::device_count();
                if usize::try_from(gpus).map_or(true, |n| launch.local_rank() >= n) {
                    return Err(DistError::BadLaunch(format!(
                        "the nccl backend needs a GPU per rank: local rank {} but {gpus} CUDA device(s) visible \
                         (start at most one rank per GPU, or use the gloo backend on CPU)",
                        launch.local_rank()
                    )));
                }
                Device::Cuda(launch.local_rank())
            }
        };
        // A launcher's world of one still gets its backend (a GPU check runs NCCL on one rank);
        // a plain process has nothing to talk to.
        let handle = if launch.world_size() > 1 || launch.launcher() != Launcher::Single {
            let timeout_ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX).max(1);
            let device_index = match backend {
                Backend::Nccl => i32::try_from(launch.local_rank())
                    .map_err(|_| DistError::BadLaunch(format!("local rank {} is too large", launch.local_rank())))?,
                Backend::Gloo => -1,
            };
            let prefix = format!("tch-distributed/attempt_{}/", launch.attempt());
            let args = ffi::CreateArgs {
                backend: backend.name(),
                addr: launch.master_addr(),
                port: launch.master_port(),
                rank: launch.rank(),
                world_size: launch.world_size(),
                timeout_ms,
                host_store: launch.hosts_store(),
                store_prefix: &prefix,
                device_index,
            };
            match ffi::Handle::create(&args) {
                Ok(handle) => Some(handle),
                Err((ffi::CODE_PORT_IN_USE, _)) => {
                    return Err(DistError::PortInUse {
                        addr: launch.master_addr().to_owned(),
                        port: launch.master_port(),
                    })
                }
                Err((ffi::CODE_UNSUPPORTED, message)) => {
                    return Err(DistError::Unsupported { backend: backend.name().to_owned(), hint: message })
                }
                Err((_, message)) => {
                    return Err(DistError::Init {
                        backend: backend.name().to_owned(),
                        rank: launch.rank(),
                        world_size: launch.world_size(),
                        addr: launch.master_addr().to_owned(),
                        port: launch.master_port(),
                        timeout,
                        message,
                    })
                }
            }
        } else {
            None
        };
        Ok(ProcessGroup {
            launch: launch.clone(),
            backend,
            timeout,
            device,
            bucket_bytes: DEFAULT_BUCKET_BYTES,
            handle,
            _not_sync: PhantomData,
        })
    }

    /// Sets the largest flat buffer of [`ProcessGroup::all_reduce_sum_flat`],
    /// [`ProcessGroup::all_reduce_mean_flat`] and [`ProcessGroup::broadcast`]
    /// (default [`DEFAULT_BUCKET_BYTES`], 25 MiB as in DDP).
    pub fn with_bucket_bytes(mut self, bytes: usize) -> ProcessGroup {
        self.bucket_bytes = bytes.max(1);
        self
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.launch.rank()
    }

    /// The number of ranks.
    pub fn world_size(&self) -> usize {
        self.launch.world_size()
    }

    /// Whether this is rank 0.
    pub fn is_main(&self) -> bool {
        self.launch.rank() == 0
    }

    /// The launch the group was created from.
    pub fn launch(&self) -> &Launch {
        &self.launch
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The device of this rank's tensors: CPU under Gloo, `cuda:<local rank>` under NCCL.
    pub fn device(&self) -> Device {
        self.device
    }

    /// The timeout of the rendezvous and of every collective.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The flat-buffer limit in bytes.
    pub fn bucket_bytes(&self) -> usize {
        self.bucket_bytes
    }

    /// Sums `tensor` over all ranks, in place: afterwards every rank holds the sum.
    pub fn all_reduce_sum(&self, tensor: &Tensor) -> Result<()> {
        check_defined("all_reduce", tensor)?;
        self.in_place("all_reduce", tensor, |handle, t| handle.all_reduce_sum(t))
    }

    /// Sums many tensors over all ranks, in place, through flat buffers of at most
    /// [`ProcessGroup::bucket_bytes`]: the tensors are concatenated, reduced once per bucket and
    /// copied back, as DDP's gradient buckets do.
    pub fn all_reduce_sum_flat(&self, tensors: &[Tensor]) -> Result<()> {
        self.flat("all_reduce", tensors, false)
    }

    /// Averages many tensors over all ranks, in place (the sum divided by the world size): the
    /// gradient all-reduce of data-parallel training. The tensors must be floating point.
    pub fn all_reduce_mean_flat(&self, tensors: &[Tensor]) -> Result<()> {
        self.flat("all_reduce", tensors, true)
    }

    /// Copies `root`'s tensors to every rank, in place, through flat buffers (e.g. the parameters
    /// from rank 0 once at start, so that every rank starts from the same weights).
    pub fn broadcast(&self, tensors: &[Tensor], root: usize) -> Result<()> {
        if root >= self.world_size() {
            return Err(DistError::BadLaunch(format!(
                "broadcast root {root} is not a rank (world size {})",
                self.world_size()
            )));
        }
        let root = i32::try_from(root).map_err(|_| DistError::BadLaunch(format!("root {root} is too large")))?;
        for t in tensors {
            check_defined("broadcast", t)?;
        }
        self.bucketed("broadcast", tensors, |flat| self.in_place("broadcast", flat, |h, t| h.broadcast(t, root)))
    }

    /// Blocks until every rank has called it (e.g. before rank 0 reads what others wrote).
    pub fn barrier(&self) -> Result<()> {
        match &self.handle {
            None => Ok(()),
            Some(handle) => {
                handle.barrier().map_err(|m| DistError::collective("barrier", self.rank(), self.timeout, m))
            }
        }
    }

    /// Refuses to go on unless every rank passes the same `value` (a configuration, a corpus
    /// manifest, a tokenizer): every rank learns every rank's hash and, on a difference, every rank
    /// returns [`DistError::Mismatch`] naming `what` and the ranks that differ from rank 0.
    pub fn check_same(&self, what: &str, value: &[u8]) -> Result<()> {
        let digest = Sha256::digest(value);
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        let hash = i64::from_le_bytes(first);
        if self.handle.is_none() {
            return Ok(());
        }
        // An all-gather by all-reduce: each rank writes its hash into its own slot of zeros.
        let mut slots = vec![0i64; self.world_size()];
        slots[self.rank()] = hash;
        let gathered = Tensor::from_slice(&slots).f_to_device(self.device)?;
        self.all_reduce_sum(&gathered)?;
        let hashes = Vec::<i64>::try_from(&gathered.f_to_device(Device::Cpu)?)?;
        let differing: Vec<usize> = (1..hashes.len()).filter(|&r| hashes[r] != hashes[0]).collect();
        if differing.is_empty() {
            Ok(())
        } else {
            Err(DistError::Mismatch { what: what.to_owned(), differing, world_size: self.world_size() })
        }
    }

    /// Runs a one-tensor collective in place; a non-contiguous tensor goes through a contiguous copy.
    fn in_place(
        &self,
        op: &'static str,
        tensor: &Tensor,
        run: impl Fn(&ffi::Handle, &Tensor) -> Result<(), String>,
    ) -> Result<()> {
        let Some(handle) = &self.handle else {
            return Ok(());
        };
        let fail = |m| DistError::collective(op, self.rank(), self.timeout, m);
        if tensor.is_contiguous() {
            return run(handle, tensor).map_err(fail);
        }
        tch::no_grad(|| {
            let dense = tensor.f_contiguous()?;
            run(handle, &dense).map_err(fail)?;
            // A second handle on the same storage: tch's in-place ops take `&mut`.
            tensor.shallow_clone().f_copy_(&dense)?;
            Ok(())
        })
    }

    fn flat(&self, op: &'static str, tensors: &[Tensor], mean: bool) -> Result<()> {
        for t in tensors {
            check_defined(op, t)?;
            if mean && !t.is_floating_point() {
                return Err(DistError::BadTensor {
                    op,
                    reason: format!("a mean needs floating-point tensors, got {:?}", t.kind()),
                });
            }
        }
        let world = self.world_size() as f64;
        self.bucketed(op, tensors, |flat| {
            self.in_place(op, flat, |h, t| h.all_reduce_sum(t))?;
            if mean && self.handle.is_some() {
                let _ = tch::no_grad(|| flat.shallow_clone().f_div_scalar_(world))?;
            }
            Ok(())
        })
    }

    /// Runs `run` on each bucket's flat buffer, then copies the buffer back into its tensors. A
    /// bucket of one tensor runs on the tensor itself.
    fn bucketed(&self, op: &'static str, tensors: &[Tensor], run: impl Fn(&Tensor) -> Result<()>) -> Result<()> {
        let keys: Vec<((Kind, Device), usize)> = tensors
            .iter()
            .map(|t| {
                let bytes = t.numel() * t.kind().elt_size_in_bytes();
                ((t.kind(), t.device()), bytes)
            })
            .collect();
        for range in bucket::plan(&keys, self.bucket_bytes) {
            let group = &tensors[range];
            if let [single] = group {
                run(single)?;
                continue;
            }
            tch::no_grad(|| -> Result<()> {
                let flats = group.iter().map(|t| t.f_reshape([-1])).collect::<Result<Vec<_>, _>>()?;
                let flat = Tensor::f_cat(&flats, 0)?;
                run(&flat)?;
                let mut offset = 0i64;
                for t in group {
                    let n = i64::try_from(t.numel())
                        .map_err(|_| DistError::BadTensor { op, reason: "tensor has too many elements".to_owned() })?;
                    let part = flat.f_narrow(0, offset, n)?.f_view(t.size().as_slice())?;
                    t.shallow_clone().f_copy_(&part)?;
                    offset += n;
                }
                Ok(())
            })?;
        }
        Ok(())
    }
}

fn check_defined(op: &'static str, tensor: &Tensor) -> Result<()> {
    if tensor.defined() {
        Ok(())
    } else {
        Err(DistError::BadTensor {
            op,
            reason: "undefined tensor (a parameter without a gradient?); pass zeros on every rank so that all \
                     ranks reduce the same tensors"
                .to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_group_moves_between_threads() {
        fn send<T: Send>() {}
        send::<ProcessGroup>();
    }
}
