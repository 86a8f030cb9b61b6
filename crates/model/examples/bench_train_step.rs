//! Forward + backward throughput of `BertModel`, for scripts/bench/model.sh (compared with HF's
//! `BertModel` in eager PyTorch by scripts/bench/model_python.py). Prints one JSON line.
//!
//! usage: bench_train_step LAYERS HIDDEN HEADS SEQ BATCH STEPS DEVICE(cpu|cuda) DTYPE(f32|bf16)

use std::time::Instant;

use model::{AttentionMask, BertConfig, BertModel, Inputs};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(a.len() == 8, "usage: bench_train_step LAYERS HIDDEN HEADS SEQ BATCH STEPS DEVICE DTYPE");
    let n = |i: usize| a[i].parse::<i64>();
    let (layers, hidden, heads, seq, batch, steps) = (n(0)?, n(1)?, n(2)?, n(3)?, n(4)?, n(5)?);
    let device = model::parse_device(&a[6])?;
    let kind = if a[7] == "bf16" { Kind::BFloat16 } else { Kind::Float };
    let config = BertConfig {
        vocab_size: 30522,
        hidden_size: hidden,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        intermediate_size: 4 * hidden,
        max_position_embeddings: 512,
        ..BertConfig::default()
    };
    tch::manual_seed(0);
    let vs = VarStore::new(device);
    let mut bert = BertModel::new(vs.root(), &config, true);
    bert.compute_kind = kind;
    let ids = Tensor::randint_low(0, config.vocab_size, [batch, seq], (Kind::Int64, device));
    let mask = Tensor::ones([batch, seq], (Kind::Int64, device));
    let inputs = Inputs { input_ids: &ids, attention_mask: Some(&mask), token_type_ids: None };
    let step = || -> anyhow::Result<()> {
        let h = bert.forward_t(inputs, AttentionMask::Bidirectional, true)?.last_hidden_state;
        let loss = h.to_kind(Kind::Float).square().mean(Kind::Float);
        loss.backward();
        for v in vs.trainable_variables() {
            let mut g = v.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        Ok(())
    };
    for _ in 0..3 {
        step()?;
    }
    if let Device::Cuda(_) = device {
        tch::Cuda::synchronize(0);
    }
    let start = Instant::now();
    for _ in 0..steps {
        step()?;
    }
    if let Device::Cuda(_) = device {
        tch::Cuda::synchronize(0);
    }
    let secs = start.elapsed().as_secs_f64();
    let tokens = (steps * batch * seq) as f64;
    println!("{{\"seconds\": {secs:.3}, \"tokens_per_s\": {:.0}}}", tokens / secs);
    Ok(())
}
