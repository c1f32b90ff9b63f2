//! Election-process falsehoods: false claims about how voting works, matched against the
//! built-in UK narrative library (`classify/narratives/uk.toml`) plus the council's own
//! `[[narrative]]` entries.
//!
//! Each text is split into sentences, pairs of neighbouring sentences and (for short posts) the
//! whole text, so a claim at the end of a long article is still seen; each segment is embedded
//! with the sentence encoder. The segment most similar to any narrative's claim side (claim +
//! phrasings) is compared with the rebuttal side (the correct positions and typical debunks) —
//! a debunk mentions the myth but sits closer to the rebuttal — three ways: against the whole
//! text's closest correction, against that segment's closest correction, and against the
//! matched narrative's own rebuttal; and with the library's background of ordinary election
//! talk. The text's fact-check cues ("myth", "not true", "fact check"…) are counted. A logistic
//! model fitted on the non-test splits of `tests/eval/claims.jsonl` (see [`Calibration`]) turns
//! these into a calibrated score.

mod segment;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ballotwatch_core::{Item, Verdict, VerdictKind};
use regex::Regex;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::onnx::{self, Encoder};
use crate::{ClassifyError, Detector, DetectorError};

pub use segment::segments;

/// The detector's name in verdicts and `[detectors.thresholds]`.
pub const NAME: &str = "narratives";
/// The built-in UK narrative library, reviewed like code.
pub const UK_LIBRARY: &str = include_str!("../../../narratives/uk.toml");
/// Verdicts scoring below this are not reported at all.
const REPORT_FLOOR: f32 = 0.2;

/// The library file: calibration and narratives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Library {
    /// Logistic calibration of the score.
    pub calibration: Calibration,
    /// Ordinary election talk that is not a false claim (results, turnout, campaigning,
    /// practical guidance): scored with the rebuttal side, so news is not mistaken for a claim.
    #[serde(default)]
    pub background: Vec<String>,
    /// The narratives.
    #[serde(rename = "narrative")]
    pub narratives: Vec<Narrative>,
}

/// `score = sigmoid(bias + claim·c + margin·(c − r) + segment_margin·(c − r_seg)
/// + narrative_margin·(c − r_nar) + background_margin·(c − bg) + claim_top3·c3 + cue·k
/// + spread·s + polarity·p + reported·a + question·q)` with the inputs of [`Features`]; 0 when
/// `r > c + stance_gate + polarity_gate·max(p, 0) + reported_gate·a + question_gate·q` (those
/// last terms 0 when the text has fact-check cues) or `c < min_claim`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// Intercept.
    pub bias: f32,
    /// Weight of the claim similarity.
    pub claim: f32,
    /// Weight of claim minus the text's rebuttal similarity.
    pub margin: f32,
    /// Weight of claim minus the matched segment's rebuttal similarity.
    pub segment_margin: f32,
    /// Weight of claim minus the matched segment's similarity to the matched narrative's own
    /// rebuttal side.
    pub narrative_margin: f32,
    /// Weight of claim minus the matched segment's similarity to the background.
    pub background_margin: f32,
    /// Weight of the mean of the matched segment's three best similarities to the matched
    /// narrative's claim side.
    pub claim_top3: f32,
    /// Weight of the fact-check cue count.
    pub cue: f32,
    /// Weight of the spreading cue count (see [`spread_cues`]).
    pub spread: f32,
    /// Weight of the negation agreement (see [`Features::polarity`]).
    pub polarity: f32,
    /// Weight of reported speech without a correction cue (see [`reported_speech`]); 0 in a
    /// library fitted before it existed.
    #[serde(default)]
    pub reported: f32,
    /// Weight of a matched segment that asks (see [`asks`]); 0 in a library fitted before it
    /// existed.
    #[serde(default)]
    pub question: f32,
    /// Stance gate: a segment closer to the rebuttal side than to the claim side by more than
    /// this reads as a correction, not a claim, and scores 0.
    pub stance_gate: f32,
    /// How much further the stance gate opens for a segment negated like its claim phrasing
    /// and unlike its correction (`polarity` +1): "not" barely moves the sentence encoder, so
    /// "you can't vote without it" sits as close to "you don't need it to vote" as to the claim.
    pub polarity_gate: f32,
    /// How much further the stance gate opens for a text that reports what someone else says
    /// without a correction cue (`reported` 1): "a viral post says pencil marks are rubbed
    /// out" sits as close to the debunk "claims that pencil marks are rubbed out are false" as
    /// to the claim, and only the debunk carries a cue.
    #[serde(default)]
    pub reported_gate: f32,
    /// How much further the stance gate opens for a matched segment that asks, in a text
    /// without a correction cue ("is it true you get two votes with two addresses? my
    /// neighbour says yes").
    #[serde(default)]
    pub question_gate: f32,
    /// A segment whose claim similarity is below this is not about any narrative and scores 0
    /// (without it, text far from both sides would score on the margin alone).
    pub min_claim: f32,
}

impl Calibration {
    /// The calibrated score for features.
    pub fn score(&self, f: &Features) -> f32 {
        // The polarity gate never opens for a text that reads as a fact check: a debunk
        // restating the claim un-negated ("you can use a pen or the pencil") agrees in polarity
        // with the claim phrasing while saying the opposite.
        let polarity_gate = if f.cues > 0.0 {
            0.0
        } else {
            self.polarity_gate * f.polarity.max(0.0)
                + self.reported_gate * f.reported
                + self.question_gate * f.question
        };
        if f.rebuttal > f.claim + self.stance_gate + polarity_gate || f.claim < self.min_claim {
            return 0.0;
        }
        let z = self.bias
            + self
                .weights()
                .iter()
                .zip(f.inputs())
                .map(|(w, x)| w * x)
                .sum::<f32>();
        1.0 / (1.0 + (-z).exp())
    }

    /// The weights, in the order of [`Features::inputs`].
    pub fn weights(&self) -> [f32; Features::INPUTS] {
        [
            self.claim,
            self.margin,
            self.segment_margin,
            self.narrative_margin,
            self.background_margin,
            self.claim_top3,
            self.cue,
            self.spread,
            self.polarity,
            self.reported,
            self.question,
        ]
    }
}

/// One false narrative: the built-in library's entries and the config's `[[narrative]]`s have
/// the same shape.
pub use crate::config::NarrativeConfig as Narrative;

/// What the score is computed from, for one item and its best-matching narrative.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Features {
    /// Best cosine similarity of a segment to the narrative's claim side.
    pub claim: f32,
    /// Best similarity to the rebuttal side (every narrative's rebuttal and debunks, and the
    /// library's background of ordinary election talk) of any segment of the text.
    pub rebuttal: f32,
    /// Best similarity of the matched segment to the rebuttal side.
    pub segment_rebuttal: f32,
    /// Best similarity of the matched segment to the matched narrative's rebuttal and debunks.
    pub narrative_rebuttal: f32,
    /// Best similarity of the matched segment to the library's background (0 without one).
    pub background: f32,
    /// Mean of the matched segment's three best similarities to the matched narrative's claim
    /// side (fewer when it has fewer texts): how many of its phrasings agree, not just one.
    pub claim_top3: f32,
    /// Fact-check and correction cues in the text (0, 1 or 2).
    pub cues: f32,
    /// Spreading cues in the text (0, 1 or 2): how rumours ask to be passed on.
    pub spread: f32,
    /// Negation agreement: +1 when the matched segment is negated (or not) like its closest
    /// claim phrasing but unlike its closest correction of the same narrative, −1 the other way
    /// round, 0 otherwise. The sentence encoder hardly sees "not"; this sees only "not".
    pub polarity: f32,
    /// 1 when the matched segment passes on what someone else says ("a post going round
    /// says…", "I've been told…") and the text has no fact-check cue: a reported claim, not a
    /// correction. Debunks report the claim too ("claims that … are false"), but with a cue.
    /// The segment's own words, not the whole text's: a news story's "the candidates told
    /// us" in its headline does not make another of its sentences a passed-on rumour.
    pub reported: f32,
    /// 1 when the matched segment is a question: "did you know you can vote by text?" asserts,
    /// "can I vote by text?" asks; the head learns how much a question weighs.
    pub question: f32,
}

impl Features {
    /// How many inputs the score's linear part has.
    pub const INPUTS: usize = 11;

    /// The inputs of the score's linear part, in the order of [`Calibration::weights`].
    pub fn inputs(&self) -> [f32; Features::INPUTS] {
        [
            self.claim,
            self.claim - self.rebuttal,
            self.claim - self.segment_rebuttal,
            self.claim - self.narrative_rebuttal,
            self.claim - self.background,
            self.claim_top3,
            self.cues,
            self.spread,
            self.polarity,
            self.reported,
            self.question,
        ]
    }

    /// Features of a text with no words.
    pub fn empty() -> Features {
        Features {
            claim: 0.0,
            rebuttal: 0.0,
            segment_rebuttal: 0.0,
            narrative_rebuttal: 0.0,
            background: 0.0,
            claim_top3: 0.0,
            cues: 0.0,
            spread: 0.0,
            polarity: 0.0,
            reported: 0.0,
            question: 0.0,
        }
    }
}

/// The best match of one item.
#[derive(Debug, Clone)]
pub struct Match {
    /// Index into [`Narratives::narratives`].
    pub narrative: usize,
    /// The segment that matched.
    pub segment: String,
    /// Its features.
    pub features: Features,
}

/// The narrative library with its embeddings.
pub struct Narratives {
    encoder: Arc<Encoder>,
    narratives: Vec<Narrative>,
    calibration: Calibration,
    /// (narrative index, embedding) of every claim-side text.
    claim_side: Vec<(usize, Vec<f32>)>,
    /// (narrative index, embedding) of every narrative's rebuttal and debunks.
    rebuttal_side: Vec<(usize, Vec<f32>)>,
    /// Whether each claim-side text is negated (see [`negated`]).
    claim_negated: Vec<bool>,
    /// Whether each rebuttal-side text is negated.
    rebuttal_negated: Vec<bool>,
    /// Embeddings of the library's background of ordinary election talk.
    background: Vec<Vec<f32>>,
}

impl std::fmt::Debug for Narratives {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Narratives")
            .field("narratives", &self.narratives.len())
            .field("encoder", &self.encoder)
            .finish()
    }
}

/// The built-in library (`classify/narratives/uk.toml`, compiled in) does not parse: a
/// mistake in the shipped file, which a unit test catches before release.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("classify/narratives/uk.toml: {0}")]
pub struct LibraryError(String);

/// Parses the built-in library.
pub fn builtin_library() -> Result<Library, LibraryError> {
    toml::from_str(UK_LIBRARY).map_err(|e| LibraryError(e.to_string()))
}

fn setup_error(message: String) -> ClassifyError {
    ClassifyError {
        detector: NAME.into(),
        message,
    }
}

impl Narratives {
    /// The built-in library plus the config's `[[narrative]]`s, embedded with the shared text
    /// encoder from the models folder.
    pub fn from_config(config: crate::ClassifyConfig<'_>) -> Result<Narratives, ClassifyError> {
        let mut library = builtin_library().map_err(|e| setup_error(e.to_string()))?;
        for n in config.narratives {
            library.narratives.retain(|b| b.id != n.id);
            library.narratives.push(n.clone());
        }
        let dir = onnx::models_dir(config.detectors).map_err(|e| setup_error(e.to_string()))?;
        let encoder = Encoder::shared(&dir, onnx::TEXT_ENCODER, config.detectors)
            .map_err(|e| setup_error(e.to_string()))?;
        Narratives::new(encoder, library, Some(&dir.join("cache")))
    }

    /// A detector for a library, embedding it with `encoder` (through the on-disk cache in
    /// `cache_dir`, keyed by the model's SHA-256, when given).
    pub fn new(
        encoder: Arc<Encoder>,
        library: Library,
        cache_dir: Option<&Path>,
    ) -> Result<Narratives, ClassifyError> {
        #[derive(Clone, Copy)]
        enum Side {
            Claim(usize),
            Rebuttal(usize),
            Background,
        }
        let mut texts: Vec<(Side, &str)> = Vec::new();
        for (i, n) in library.narratives.iter().enumerate() {
            texts.push((Side::Claim(i), &n.claim));
            texts.extend(n.examples.iter().map(|e| (Side::Claim(i), e.as_str())));
            texts.push((Side::Rebuttal(i), &n.rebuttal));
            texts.extend(n.debunks.iter().map(|e| (Side::Rebuttal(i), e.as_str())));
        }
        texts.extend(
            library
                .background
                .iter()
                .map(|b| (Side::Background, b.as_str())),
        );
        let strings: Vec<&str> = texts.iter().map(|t| t.1).collect();
        let embeddings = cached_embeddings(&encoder, &strings, cache_dir)
            .map_err(|e| setup_error(e.to_string()))?;
        let mut claim_side = Vec::new();
        let mut rebuttal_side = Vec::new();
        let mut claim_negated = Vec::new();
        let mut rebuttal_negated = Vec::new();
        let mut background = Vec::new();
        for ((side, text), e) in texts.iter().zip(embeddings) {
            match *side {
                Side::Claim(i) => {
                    claim_side.push((i, e));
                    claim_negated.push(negated(text));
                }
                Side::Rebuttal(i) => {
                    rebuttal_side.push((i, e));
                    rebuttal_negated.push(negated(text));
                }
                Side::Background => background.push(e),
            }
        }
        Ok(Narratives {
            encoder,
            calibration: library.calibration,
            narratives: library.narratives,
            claim_side,
            rebuttal_side,
            claim_negated,
            rebuttal_negated,
            background,
        })
    }

    /// The narratives this detector knows.
    pub fn narratives(&self) -> &[Narrative] {
        &self.narratives
    }

    /// The best match for each text (None for a text with no words).
    pub fn best_matches(&self, texts: &[&str]) -> Result<Vec<Option<Match>>, DetectorError> {
        let per_text: Vec<Vec<String>> = texts.iter().map(|t| segments(t)).collect();
        // Each distinct segment is embedded once per batch: syndicated and templated text
        // repeats whole sentences across items.
        let mut unique: Vec<&str> = Vec::new();
        let mut slot: HashMap<&str, usize> = HashMap::new();
        let positions: Vec<usize> = per_text
            .iter()
            .flatten()
            .map(|seg| {
                *slot.entry(seg.as_str()).or_insert_with(|| {
                    unique.push(seg.as_str());
                    unique.len() - 1
                })
            })
            .collect();
        let distinct = self.encoder.embed(&unique).map_err(|e| DetectorError {
            detector: NAME.into(),
            message: e.to_string(),
        })?;
        let embeddings: Vec<&Vec<f32>> = positions.iter().map(|&i| &distinct[i]).collect();
        let mut next = 0;
        let mut out = Vec::with_capacity(texts.len());
        for (text, segs) in texts.iter().zip(&per_text) {
            let cues = fact_check_cues(text);
            let spread = spread_cues(text);
            let mut best: Option<Match> = None;
            // How close the text comes anywhere to a correction: a debunk states the myth in
            // one sentence and the correct position in another.
            // Every segment's similarity to every library text, computed once.
            let sims: Vec<SegmentSims> = embeddings[next..next + segs.len()]
                .iter()
                .map(|e| self.similarities(e))
                .collect();
            next += segs.len();
            let text_rebuttal = sims
                .iter()
                .map(SegmentSims::rebuttal)
                .fold(f32::MIN, f32::max);
            for (seg, sim) in segs.iter().zip(&sims) {
                let (claim_i, claim) = best_of(&self.claim_side, &sim.claim);
                if best.as_ref().is_some_and(|b| b.features.claim >= claim) {
                    continue;
                }
                let of_narrative = |side: &[(usize, Vec<f32>)], values: &[f32]| -> Vec<f32> {
                    side.iter()
                        .zip(values)
                        .filter(|((i, _), _)| *i == claim_i)
                        .map(|(_, v)| *v)
                        .collect()
                };
                let mut claims = of_narrative(&self.claim_side, &sim.claim);
                claims.sort_by(|a, b| b.total_cmp(a));
                claims.truncate(3);
                let claim_top3 = claims.iter().sum::<f32>() / claims.len().max(1) as f32;
                let narrative_rebuttal = of_narrative(&self.rebuttal_side, &sim.rebuttal)
                    .into_iter()
                    .fold(0.0, f32::max);
                // The closest text of the matched narrative on each side: is the segment
                // negated like the claim phrasing or like the correction?
                let closest = |side: &[(usize, Vec<f32>)], values: &[f32]| -> Option<usize> {
                    side.iter()
                        .zip(values)
                        .enumerate()
                        .filter(|(_, ((i, _), _))| *i == claim_i)
                        .max_by(|a, b| a.1 .1.total_cmp(b.1 .1))
                        .map(|(k, _)| k)
                };
                let seg_negated = negated(seg);
                let agrees = |k: Option<usize>, negations: &[bool]| -> f32 {
                    match k.and_then(|k| negations.get(k)) {
                        Some(&n) if n == seg_negated => 1.0,
                        _ => 0.0,
                    }
                };
                let polarity = agrees(closest(&self.claim_side, &sim.claim), &self.claim_negated)
                    - agrees(
                        closest(&self.rebuttal_side, &sim.rebuttal),
                        &self.rebuttal_negated,
                    );
                best = Some(Match {
                    narrative: claim_i,
                    segment: seg.clone(),
                    features: Features {
                        claim,
                        rebuttal: text_rebuttal,
                        segment_rebuttal: sim.rebuttal(),
                        narrative_rebuttal,
                        background: sim.background,
                        claim_top3,
                        cues,
                        spread,
                        polarity,
                        reported: if cues == 0.0 && reported_speech(seg) {
                            1.0
                        } else {
                            0.0
                        },
                        question: if asks(seg) { 1.0 } else { 0.0 },
                    },
                });
            }
            out.push(best);
        }
        Ok(out)
    }

    /// The similarities of one segment's embedding `e` to the library.
    fn similarities(&self, e: &[f32]) -> SegmentSims {
        let to = |side: &[(usize, Vec<f32>)]| -> Vec<f32> {
            side.iter().map(|(_, v)| onnx::cosine(e, v)).collect()
        };
        SegmentSims {
            claim: to(&self.claim_side),
            rebuttal: to(&self.rebuttal_side),
            background: self
                .background
                .iter()
                .map(|v| onnx::cosine(e, v))
                .fold(0.0, f32::max),
        }
    }

    fn verdict(&self, m: &Match) -> Option<Verdict> {
        let score = self.calibration.score(&m.features);
        if score < REPORT_FLOOR {
            return None;
        }
        let n = &self.narratives[m.narrative];
        let source = n
            .source
            .as_ref()
            .map(|s| format!(" (source: {s})"))
            .unwrap_or_default();
        Some(Verdict {
            kind: VerdictKind::Misinformation,
            label: "election_process_claim".into(),
            score,
            detector: NAME.into(),
            explanation: format!(
                "repeats the false claim \"{}\" (narrative `{}`) in: \"{}\". Correct position: {}{}",
                n.claim, n.id, m.segment, n.rebuttal, source
            ),
            evidence: serde_json::json!({
                "narrative": n.id,
                "sentence": m.segment,
                "claim_similarity": m.features.claim,
                "rebuttal_similarity": m.features.rebuttal,
                "segment_rebuttal_similarity": m.features.segment_rebuttal,
                "narrative_rebuttal_similarity": m.features.narrative_rebuttal,
                "background_similarity": m.features.background,
                "claim_top3_similarity": m.features.claim_top3,
                "fact_check_cues": m.features.cues,
                "spread_cues": m.features.spread,
                "negation_agreement": m.features.polarity,
                "reported_speech": m.features.reported,
                "question": m.features.question,
                "source": n.source,
                "model_sha256": self.encoder.sha256(),
            }),
            rebuttal: Some(n.rebuttal.clone()),
        })
    }
}

/// One segment's similarities to the library.
struct SegmentSims {
    /// To each claim-side text, in the order of `Narratives::claim_side`.
    claim: Vec<f32>,
    /// To each rebuttal-side text, in the order of `Narratives::rebuttal_side`.
    rebuttal: Vec<f32>,
    /// Best similarity to the background (0 without one).
    background: f32,
}

impl SegmentSims {
    /// Best similarity to any narrative's rebuttal side or the background.
    fn rebuttal(&self) -> f32 {
        self.rebuttal
            .iter()
            .copied()
            .fold(self.background, f32::max)
    }
}

/// The narrative of the most similar text of `side`, given the similarities to its texts.
fn best_of(side: &[(usize, Vec<f32>)], sims: &[f32]) -> (usize, f32) {
    side.iter()
        .zip(sims)
        .map(|((i, _), s)| (*i, *s))
        .fold((0, f32::MIN), |a, b| if b.1 > a.1 { b } else { a })
}

/// Fact-check and correction cues: how debunks and official guidance signal that they mention
/// a myth to correct it. Counted once per kind of cue, capped at 2.
pub fn fact_check_cues(text: &str) -> f32 {
    static CUES: OnceLock<Vec<Regex>> = OnceLock::new();
    let cues = CUES.get_or_init(|| {
        [
            r"(?i)\b(myths?|hoax(es)?|debunk\w*|fact[- ]?check\w*|misinformation|disinformation|misleading|rumou?rs?|baseless|unfounded|no evidence|nonsense|conspiracy theor\w*|bogus|fabricated|made[- ]up|lies)\b",
            r"(?i)\b(not true|untrue|is false|are false|false claims?|fake (posts?|claims?|messages?|news)|incorrect|is wrong|are wrong|not correct|scam)\b",
            r"(?i)\b(don'?t believe|do not believe|ignore (these|this|the|any)|beware|be aware|don'?t worry|either way)\b",
            r"\b(NOT|FALSE|FAKE)\b|(?i)\b(has|have) not been\b",
            // A post that marks itself as a joke, or calls the claim fake, a crime or a forgery.
            r"(?i)^\W*(no|nope|wrong|false)\b[,.!:;]|(?i)\b(joke|joking|just kidding|satire|satirical|parody|(is|are|was|were) (fake|a fake|a hoax|false|untrue|fabricated|doctored|edited)|deep ?fakes?|voice[- ]clon\w*|an offence|a crime|illegal|it doesn'?t|they can'?t|nobody can|no one can)\b",
        ]
        .iter()
        .filter_map(|p| Regex::new(p).ok())
        .collect()
    });
    let n = cues.iter().filter(|r| r.is_match(text)).count();
    n.min(2) as f32
}

/// Whether a text says "not": a negation word or a negated verb ("can't", "doesn't", "won't",
/// "never", "no", "without"…).
pub fn negated(text: &str) -> bool {
    static NEGATION: OnceLock<Option<Regex>> = OnceLock::new();
    NEGATION
        .get_or_init(|| {
            Regex::new(r"(?i)\b(not|no|never|nobody|nothing|none|cannot|without|neither|nor)\b|\b\w+n['’]t\b|\b(dont|cant|wont|isnt|arent|doesnt|didnt|wasnt|werent)\b").ok()
        })
        .as_ref()
        .is_some_and(|r| r.is_match(text))
}

/// Whether a text passes on what someone else says: "a post going round says", "people are
/// saying", "I've been told", "apparently", "according to a message".
pub fn reported_speech(text: &str) -> bool {
    static REPORTED: OnceLock<Option<Regex>> = OnceLock::new();
    REPORTED
        .get_or_init(|| {
            Regex::new(r"(?i)\b(says|said|saying|claims?|claimed|claiming|reckons?|apparently|reportedly|allegedly|supposedly|i heard|i've heard|i have heard|heard that|been told|told me|told us|word is|going (round|around)|doing the rounds|circulating|according to|posted that|shared a|forwarded)\b").ok()
        })
        .as_ref()
        .is_some_and(|r| r.is_match(text))
}

/// Whether a segment asks a question: a question mark, or an opening such as "did you know",
/// "is it true", "why do they".
pub fn asks(segment: &str) -> bool {
    static ASKS: OnceLock<Option<Regex>> = OnceLock::new();
    segment.contains('?')
        || ASKS
            .get_or_init(|| {
                Regex::new(r"(?i)^\W*(did you know|is it true|anyone (else )?(know|heard)|why (do|does|did|would|are|is))\b").ok()
            })
            .as_ref()
            .is_some_and(|r| r.is_match(segment))
}

/// Spreading cues: how rumours ask to be passed on before they are "taken down" — share and
/// forward requests, urgency, "they don't want you to know", text shouted in capitals. Counted
/// once per kind of cue, capped at 2. Official guidance rarely has them; the head learns how
/// much they weigh.
pub fn spread_cues(text: &str) -> f32 {
    static CUES: OnceLock<Vec<Regex>> = OnceLock::new();
    let cues = CUES.get_or_init(|| {
        [
            r"(?i)\b(please share|share (this|it|widely|everywhere|before)|pass (it|this) on|tell (everyone|your (family|friends|neighbours))|spread the word|forward(ed)?( as received| many times)?|copied and pasted|before (it'?s|they'?re|they) (deleted|taken down|removed|delete)|wake up|they don'?t want you to know|link in (bio|comments)|click here|watch before|sound on)\b",
            r"(?i)\b(urgent|breaking|psa|heads up|warning|exclusive|leaked|caught on (tape|camera|a hot mic)|whistle-?blower)\b|!!|\?\?",
            // Three words in a row in capitals (not acronyms alone).
            r"\b[A-Z]{2,}[A-Z'!?.,]*\s+[A-Z]{2,}[A-Z'!?.,]*\s+[A-Z]{2,}",
        ]
        .iter()
        .filter_map(|p| Regex::new(p).ok())
        .collect()
    });
    let n = cues.iter().filter(|r| r.is_match(text)).count();
    n.min(2) as f32
}

/// Embeddings of `texts`, reading and extending the on-disk cache in `cache_dir` (a file named
/// by the model's SHA-256; entries keyed by the SHA-256 of each text).
fn cached_embeddings(
    encoder: &Encoder,
    texts: &[&str],
    cache_dir: Option<&Path>,
) -> Result<Vec<Vec<f32>>, onnx::OnnxError> {
    let path: Option<PathBuf> =
        cache_dir.map(|d| d.join(format!("narratives-{}.bin", encoder.sha256())));
    let mut cache: HashMap<[u8; 32], Vec<f32>> =
        path.as_deref().map(read_cache).unwrap_or_default();
    let key = |t: &str| -> [u8; 32] { Sha256::digest(t.as_bytes()).into() };
    let missing: Vec<&str> = texts
        .iter()
        .copied()
        .filter(|t| !cache.contains_key(&key(t)))
        .collect();
    if !missing.is_empty() {
        tracing::info!(texts = missing.len(), "embedding narrative library");
        let fresh = encoder.embed(&missing)?;
        for (t, e) in missing.iter().zip(fresh) {
            cache.insert(key(t), e);
        }
        if let Some(p) = &path {
            if let Err(e) = write_cache(p, &cache) {
                tracing::warn!(path = %p.display(), error = %e, "cannot write the narrative embedding cache");
            }
        }
    }
    Ok(texts
        .iter()
        .map(|t| cache.get(&key(t)).cloned().unwrap_or_default())
        .collect())
}

/// Cache format: repeated [32-byte text SHA-256][u32 LE dimension][dimension × f32 LE].
fn read_cache(path: &Path) -> HashMap<[u8; 32], Vec<f32>> {
    let mut out = HashMap::new();
    let Ok(bytes) = std::fs::read(path) else {
        return out;
    };
    let mut rest = &bytes[..];
    while rest.len() >= 36 {
        let mut k = [0u8; 32];
        k.copy_from_slice(&rest[..32]);
        let dim = u32::from_le_bytes([rest[32], rest[33], rest[34], rest[35]]) as usize;
        let end = 36 + dim * 4;
        if rest.len() < end {
            tracing::warn!(path = %path.display(), "narrative embedding cache is truncated; ignoring the rest");
            break;
        }
        let v = rest[36..end]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        out.insert(k, v);
        rest = &rest[end..];
    }
    out
}

fn write_cache(path: &Path, cache: &HashMap<[u8; 32], Vec<f32>>) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut bytes = Vec::new();
    for (k, v) in cache {
        bytes.extend_from_slice(k);
        bytes.extend_from_slice(&(v.len() as u32).to_le_bytes());
        for x in v {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    // Write then rename, so a concurrent reader never sees half a file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

impl Detector for Narratives {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> String {
        format!(
            "2 ({} narratives; {} sha256:{})",
            self.narratives.len(),
            self.encoder.name(),
            self.encoder.sha256()
        )
    }

    fn detect(&self, item: &Item) -> Result<Vec<Verdict>, DetectorError> {
        self.detect_batch(&[item])
            .pop()
            .unwrap_or_else(|| Ok(Vec::new()))
    }

    fn detect_batch(&self, items: &[&Item]) -> Vec<Result<Vec<Verdict>, DetectorError>> {
        let texts: Vec<String> = items.iter().map(|i| i.full_text()).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        match self.best_matches(&refs) {
            Ok(matches) => matches
                .iter()
                .map(|m| {
                    Ok(m.as_ref()
                        .and_then(|m| self.verdict(m))
                        .into_iter()
                        .collect())
                })
                .collect(),
            Err(e) => items
                .iter()
                .map(|_| {
                    Err(DetectorError {
                        detector: e.detector.clone(),
                        message: e.message.clone(),
                    })
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests;
