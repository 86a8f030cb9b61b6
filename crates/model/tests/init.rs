//! Initialisation. In a test binary of its own: libtorch's generator is process-wide, and tests
//! running in parallel threads would draw from it in between.

mod common;
use common::tiny;
use model::BertForLM;
use tch::nn::VarStore;
use tch::Device;

#[test]
fn initialisation_is_hf_like_and_a_pure_function_of_the_seed() {
    let build = |seed| {
        tch::manual_seed(seed);
        let vs = VarStore::new(Device::Cpu);
        let _ = BertForLM::new(&vs.root(), &tiny());
        vs
    };
    let (a, b, c) = (build(5), build(5), build(6));
    let (va, vb, vc) = (a.variables(), b.variables(), c.variables());
    for (name, t) in &va {
        assert!(t.equal(&vb[name]), "{name} differs with the same seed");
    }
    let w = &va["bert.encoder.layer.0.attention.self.query.weight"];
    assert!(!w.equal(&vc["bert.encoder.layer.0.attention.self.query.weight"]));
    let std = w.std(true).double_value(&[]);
    assert!((std - 0.02).abs() < 0.003, "{std}");
    assert!(va["bert.embeddings.LayerNorm.weight"].eq(1.0).all().int64_value(&[]) == 1);
    assert!(va["cls.predictions.bias"].eq(0.0).all().int64_value(&[]) == 1);
    assert!(va["bert.embeddings.word_embeddings.weight"].get(0).eq(0.0).all().int64_value(&[]) == 1, "pad row");
    // The decoder is tied: no separate variable.
    assert!(!va.keys().any(|k| k.contains("decoder")));
}
