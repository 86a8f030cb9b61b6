//! Where this process sits in the job: rank, world size and rendezvous address, read from the
//! variables that torchrun or SLURM's srun set.

use crate::error::{DistError, Result};

/// The port of the rendezvous store when `MASTER_PORT` is unset (torch.distributed's default).
pub const DEFAULT_MASTER_PORT: u16 = 29500;

/// Which launcher the process was started by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launcher {
    /// `RANK`/`WORLD_SIZE` in the environment: torchrun, or anything that sets the same variables.
    Env,
    /// SLURM's srun: `SLURM_PROCID`/`SLURM_NTASKS`/`SLURM_LOCALID`.
    Slurm,
    /// No launcher: one process.
    Single,
    /// Built by [`Launch::new`].
    Manual,
}

/// Rank, world size and rendezvous address of this process.
///
/// Rank 0 hosts the rendezvous store (a c10d `TCPStore`) on `MASTER_ADDR:MASTER_PORT` and the
/// other ranks connect to it, except under torchrun (`TORCHELASTIC_USE_AGENT_STORE=True`), whose
/// agent already serves the store on that port: then every rank connects as a client, like
/// `torch.distributed.init_process_group("env://")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    rank: usize,
    world_size: usize,
    local_rank: usize,
    master_addr: String,
    master_port: u16,
    agent_store: bool,
    attempt: u32,
    launcher: Launcher,
}

impl Launch {
    /// Reads the launcher's variables, in this order:
    /// 1. `RANK`, `WORLD_SIZE`, `LOCAL_RANK` (torchrun; `LOCAL_RANK` defaults to `RANK`),
    ///    `MASTER_ADDR`, `MASTER_PORT`, `TORCHELASTIC_USE_AGENT_STORE`, `TORCHELASTIC_RESTART_COUNT`;
    /// 2. `SLURM_PROCID`, `SLURM_NTASKS`, `SLURM_LOCALID`, with `MASTER_ADDR` and `MASTER_PORT`
    ///    exported by the batch script;
    /// 3. otherwise a single process (world size 1).
    ///
    /// `MASTER_PORT` defaults to [`DEFAULT_MASTER_PORT`]; `MASTER_ADDR` is required when the world
    /// has more than one rank. A malformed value is an error naming the variable.
    pub fn from_env() -> Result<Launch> {
        Launch::from_vars(|name| std::env::var(name).ok())
    }

    /// [`Launch::from_env`] over any source of variables (a map in tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Launch> {
        let get = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        if get("RANK").is_some() || get("WORLD_SIZE").is_some() {
            let rank = required(&get, "RANK", "WORLD_SIZE")?;
            let world_size = required(&get, "WORLD_SIZE", "RANK")?;
            let local_rank = match get("LOCAL_RANK") {
                Some(value) => parse_index("LOCAL_RANK", &value)?,
                None => rank,
            };
            let agent_store = get("TORCHELASTIC_USE_AGENT_STORE").is_some_and(|v| v == "True");
            let attempt = match get("TORCHELASTIC_RESTART_COUNT") {
                Some(value) => value.trim().parse::<u32>().map_err(|e| DistError::BadEnv {
                    var: "TORCHELASTIC_RESTART_COUNT",
                    value: value.clone(),
                    reason: e.to_string(),
                })?,
                None => 0,
            };
            return Launch::build(rank, world_size, local_rank, &get, agent_store, attempt, Launcher::Env, "RANK");
        }
        if get("SLURM_PROCID").is_some() || get("SLURM_NTASKS").is_some() {
            let rank = required_slurm(&get, "SLURM_PROCID", "SLURM_NTASKS")?;
            let world_size = required_slurm(&get, "SLURM_NTASKS", "SLURM_PROCID")?;
            let local_rank = match get("SLURM_LOCALID") {
                Some(value) => parse_index("SLURM_LOCALID", &value)?,
                None => 0,
            };
            return Launch::build(rank, world_size, local_rank, &get, false, 0, Launcher::Slurm, "SLURM_PROCID");
        }
        Ok(Launch::single())
    }

    /// One process: rank 0 of 1. Collectives on it return their input.
    pub fn single() -> Launch {
        Launch {
            rank: 0,
            world_size: 1,
            local_rank: 0,
            master_addr: "127.0.0.1".to_owned(),
            master_port: DEFAULT_MASTER_PORT,
            agent_store: false,
            attempt: 0,
            launcher: Launcher::Single,
        }
    }

    /// A launch given by hand: rank 0 hosts the store on `master_addr:master_port`, the local rank
    /// is the rank (one host).
    pub fn new(rank: usize, world_size: usize, master_addr: &str, master_port: u16) -> Result<Launch> {
        let launch = Launch {
            rank,
            world_size,
            local_rank: rank,
            master_addr: master_addr.to_owned(),
            master_port,
            agent_store: false,
            attempt: 0,
            launcher: Launcher::Manual,
        };
        launch.validate("rank")?;
        Ok(launch)
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        rank: usize,
        world_size: usize,
        local_rank: usize,
        get: &impl Fn(&str) -> Option<String>,
        agent_store: bool,
        attempt: u32,
        launcher: Launcher,
        rank_var: &'static str,
    ) -> Result<Launch> {
        let master_port = match get("MASTER_PORT") {
            Some(value) => match value.trim().parse::<u16>() {
                Ok(0) | Err(_) => {
                    return Err(DistError::BadEnv {
                        var: "MASTER_PORT",
                        value,
                        reason: "expected a port number from 1 to 65535".to_owned(),
                    })
                }
                Ok(port) => port,
            },
            None => DEFAULT_MASTER_PORT,
        };
        let master_addr = match get("MASTER_ADDR") {
            Some(addr) => addr.trim().to_owned(),
            None if world_size == 1 => "127.0.0.1".to_owned(),
            None => {
                return Err(DistError::MissingEnv {
                    var: "MASTER_ADDR",
                    because: rank_var,
                    hint: "export the address of the rank-0 host, e.g. under SLURM \
                           MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n1)",
                })
            }
        };
        let launch = Launch { rank, world_size, local_rank, master_addr, master_port, agent_store, attempt, launcher };
        launch.validate(rank_var)?;
        Ok(launch)
    }

    fn validate(&self, rank_var: &str) -> Result<()> {
        if self.world_size == 0 {
            return Err(DistError::BadLaunch("the world size is 0: at least one rank is needed".to_owned()));
        }
        if self.rank >= self.world_size {
            return Err(DistError::BadLaunch(format!(
                "{rank_var}={} is not below the world size {}: ranks run from 0 to world size - 1",
                self.rank, self.world_size
            )));
        }
        Ok(())
    }

    /// This process's rank, from 0.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of ranks.
    pub fn world_size(&self) -> usize {
        self.world_size
    }

    /// The rank on this host: the GPU index under NCCL.
    pub fn local_rank(&self) -> usize {
        self.local_rank
    }

    /// The rendezvous store's host.
    pub fn master_addr(&self) -> &str {
        &self.master_addr
    }

    /// The rendezvous store's port.
    pub fn master_port(&self) -> u16 {
        self.master_port
    }

    /// Whether torchrun's agent serves the store (every rank is then a client).
    pub fn agent_store(&self) -> bool {
        self.agent_store
    }

    /// torchrun's restart count (`TORCHELASTIC_RESTART_COUNT`), 0 otherwise: store keys of
    /// different attempts are kept apart.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Which launcher started the process.
    pub fn launcher(&self) -> Launcher {
        self.launcher
    }

    /// Whether this process starts the store server: rank 0, unless torchrun's agent serves it.
    pub fn hosts_store(&self) -> bool {
        self.rank == 0 && !self.agent_store
    }

    /// Whether this is rank 0, the one that logs and writes checkpoints.
    pub fn is_main(&self) -> bool {
        self.rank == 0
    }

    /// Sets the local rank (the GPU index under NCCL).
    pub fn with_local_rank(mut self, local_rank: usize) -> Launch {
        self.local_rank = local_rank;
        self
    }
}

fn parse_index(var: &'static str, value: &str) -> Result<usize> {
    value.trim().parse::<usize>().map_err(|_| DistError::BadEnv {
        var,
        value: value.to_owned(),
        reason: "expected a whole number from 0".to_owned(),
    })
}

fn required(get: &impl Fn(&str) -> Option<String>, var: &'static str, because: &'static str) -> Result<usize> {
    match get(var) {
        Some(value) => parse_index(var, &value),
        None => Err(DistError::MissingEnv {
            var,
            because,
            hint: "a launcher sets RANK and WORLD_SIZE together (torchrun does); set both or neither",
        }),
    }
}

fn required_slurm(get: &impl Fn(&str) -> Option<String>, var: &'static str, because: &'static str) -> Result<usize> {
    match get(var) {
        Some(value) => parse_index(var, &value),
        None => Err(DistError::MissingEnv {
            var,
            because,
            hint: "srun sets SLURM_PROCID and SLURM_NTASKS together; start the ranks with srun",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn launch(vars: &[(&str, &str)]) -> Result<Launch> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Launch::from_vars(|name| map.get(name).cloned())
    }

    #[test]
    fn no_launcher_is_a_single_process() {
        let l = launch(&[]).unwrap();
        assert_eq!((l.rank(), l.world_size(), l.launcher()), (0, 1, Launcher::Single));
    }

    #[test]
    fn torchrun_with_agent_store_makes_every_rank_a_client() {
        let l = launch(&[
            ("RANK", "0"),
            ("WORLD_SIZE", "16"),
            ("LOCAL_RANK", "0"),
            ("MASTER_ADDR", "node1"),
            ("MASTER_PORT", "29400"),
            ("TORCHELASTIC_USE_AGENT_STORE", "True"),
            ("TORCHELASTIC_RESTART_COUNT", "2"),
        ])
        .unwrap();
        assert_eq!((l.rank(), l.world_size(), l.master_addr(), l.master_port()), (0, 16, "node1", 29400));
        assert!(l.agent_store() && !l.hosts_store());
        assert_eq!((l.attempt(), l.launcher()), (2, Launcher::Env));
        let own = launch(&[("RANK", "0"), ("WORLD_SIZE", "2"), ("MASTER_ADDR", "h")]).unwrap();
        assert!(own.hosts_store());
        assert_eq!(own.master_port(), DEFAULT_MASTER_PORT);
    }

    #[test]
    fn slurm_variables_with_exported_master() {
        let l =
            launch(&[("SLURM_PROCID", "9"), ("SLURM_NTASKS", "16"), ("SLURM_LOCALID", "1"), ("MASTER_ADDR", "gpu-a")])
                .unwrap();
        assert_eq!((l.rank(), l.world_size(), l.local_rank(), l.launcher()), (9, 16, 1, Launcher::Slurm));
        assert_eq!(l.master_port(), DEFAULT_MASTER_PORT);
        assert!(!l.hosts_store());
    }

    #[test]
    fn malformed_values_name_the_variable() {
        let msg = |vars: &[(&str, &str)]| launch(vars).unwrap_err().to_string();
        assert!(msg(&[("RANK", "x"), ("WORLD_SIZE", "2")]).contains("RANK=\"x\""));
        assert!(msg(&[("RANK", "0"), ("WORLD_SIZE", "-2")]).contains("WORLD_SIZE"));
        assert!(msg(&[("RANK", "0"), ("WORLD_SIZE", "2"), ("MASTER_ADDR", "h"), ("MASTER_PORT", "70000")])
            .contains("MASTER_PORT=\"70000\""));
        assert!(msg(&[("RANK", "1")]).contains("WORLD_SIZE is not set"));
        assert!(msg(&[("RANK", "0"), ("WORLD_SIZE", "2")]).contains("MASTER_ADDR is not set"));
        assert!(msg(&[("RANK", "2"), ("WORLD_SIZE", "2"), ("MASTER_ADDR", "h")]).contains("RANK=2 is not below"));
        assert!(msg(&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "0"), ("MASTER_ADDR", "h")]).contains("world size is 0"));
        assert!(msg(&[("SLURM_NTASKS", "4")]).contains("SLURM_PROCID is not set"));
        assert!(msg(&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "2"), ("SLURM_LOCALID", "a"), ("MASTER_ADDR", "h")])
            .contains("SLURM_LOCALID"));
    }
}
