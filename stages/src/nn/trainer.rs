//! The training loop behind the `train` stage: seeded batches (optionally domain-mixed with a
//! real set), mixed-label margin loss, SGD, per-epoch validation on held-out identities
//! (best weights kept), and checkpoints that make a killed run resume to identical weights.
//!
//! All randomness is derived from `(seed, purpose, index)` (epoch permutations, per-step flips,
//! psi and dropout masks), so a checkpoint only needs weights, running statistics, optimizer
//! velocities, the best weights so far and the step counter (plus the curve for the CSV).

use std::collections::HashMap;
use std::time::Instant;

use candle_core::{DType, ModuleT};
use candle_nn::{VarBuilder, VarMap};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use synface_engine::{CancelToken, CheckpointStore, ProgressSink, StageError};

use super::backbone::{Backbone, BackboneConfig};
use super::holdout::{build_pairs, pair_accuracy, Pairs};
use super::input::BatchSource;
use super::layers::{
    from_safetensors, init_seeded, load_into, sorted_vars, to_safetensors, HostTensor,
};
use super::margin::{accuracy, MarginHead, MarginKind, Targets};
use super::optim::{LrSchedule, Schedule, Sgd};
use super::{NnError, Result};
use crate::dataset::Dataset;

/// Validation images at most (the first of a seeded shuffle).
const MAX_VAL_IMAGES: usize = 1000;
/// Matched (and as many mismatched) validation pairs.
const VAL_PAIRS: usize = 300;
const BACKBONE: &str = "backbone";

/// Hyper-parameters of one training run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    pub backbone: BackboneConfig,
    pub margin: MarginKind,
    pub s: f64,
    pub m: f64,
    pub batch_size: usize,
    pub epochs: usize,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    /// Decay after warm-up; `Step` milestones are in epochs (converted to steps here).
    pub schedule: Schedule,
    pub warmup_steps: u64,
    pub flip: bool,
    /// Fraction of synthetic identities held out for model selection (0 = none).
    pub val_ids: f64,
    /// Save a checkpoint every this many steps (0 = never).
    pub checkpoint_every: u64,
    pub seed: u64,
}

/// What the loop trains on.
pub struct TrainData<'a> {
    pub syn: &'a Dataset,
    /// Domain mixup: the real set (same length, labels after the synthetic ones) and psi grid.
    pub real: Option<(&'a Dataset, Vec<f32>)>,
}

/// Where the loop reports to (the stage's context pieces).
pub struct Hooks<'a> {
    pub progress: &'a dyn ProgressSink,
    pub cancel: &'a CancelToken,
    pub checkpoints: &'a dyn CheckpointStore,
}

/// Result of a finished run.
#[derive(Debug, Clone)]
pub struct TrainOutput {
    /// Backbone variables (selected weights), safetensors bytes.
    pub model: Vec<u8>,
    /// `step,epoch,lr,loss,train_acc` lines with a header.
    pub curve_csv: String,
    pub final_loss: f64,
    /// Best validation accuracy and its (1-based) epoch, when validation ran.
    pub best_val: Option<(f64, usize)>,
    pub images_per_second: f64,
    pub seconds: f64,
    pub params: usize,
    pub steps: u64,
    pub train_images: usize,
    pub val_images: usize,
}

/// A ChaCha8 generator for `(seed, purpose, index)`.
pub fn rng_for(seed: u64, purpose: &str, index: u64) -> ChaCha8Rng {
    let mut h = blake3::Hasher::new();
    h.update(&seed.to_le_bytes());
    h.update(purpose.as_bytes());
    h.update(&index.to_le_bytes());
    ChaCha8Rng::from_seed(*h.finalize().as_bytes())
}

/// Training and validation rows of the synthetic set.
struct Split {
    train: Vec<usize>,
    val: Vec<usize>,
    val_labels: Vec<usize>,
}

fn split(syn: &Dataset, val_ids: f64, seed: u64) -> Split {
    let k = syn.info.num_classes;
    let n_val = (val_ids * k as f64).round() as usize;
    let mut held = vec![false; k];
    if n_val >= 2 && n_val < k {
        let mut ids: Vec<usize> = (0..k).collect();
        ids.shuffle(&mut rng_for(seed, "val-ids", 0));
        ids[..n_val].iter().for_each(|&c| held[c] = true);
    }
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for i in 0..syn.len() {
        let (a, b, phi) = (syn.label_a[i] as usize, syn.label_b[i] as usize, syn.phi[i]);
        let uses_a = phi > 0.0;
        let uses_b = phi < 1.0 && b != a;
        if (!uses_a || !held[a]) && (!uses_b || !held[b]) {
            train.push(i);
        } else if !uses_b && held[a] {
            val.push(i);
        }
    }
    val.shuffle(&mut rng_for(seed, "val-images", 0));
    val.truncate(MAX_VAL_IMAGES);
    val.sort_unstable();
    let val_labels = val.iter().map(|&i| syn.label_a[i] as usize).collect();
    Split {
        train,
        val,
        val_labels,
    }
}

fn backbone_tensors(vm: &VarMap) -> Result<Vec<HostTensor>> {
    let prefix = format!("{BACKBONE}.");
    sorted_vars(vm)
        .iter()
        .filter_map(|(n, v)| {
            n.strip_prefix(&prefix)
                .map(|s| HostTensor::of(s, v.as_tensor()))
        })
        .collect()
}

/// Loop state that a checkpoint carries besides the variables.
struct Progress {
    step: u64,
    curve: String,
    best: Option<(f64, usize)>,
    best_weights: Option<Vec<HostTensor>>,
    last_loss: f64,
}

fn save_checkpoint(vm: &VarMap, opt: &Sgd, p: &Progress) -> Result<Vec<u8>> {
    let mut ts: Vec<HostTensor> = sorted_vars(vm)
        .iter()
        .map(|(n, v)| HostTensor::of(format!("w.{n}"), v.as_tensor()))
        .collect::<Result<_>>()?;
    ts.extend(opt.state("v.")?);
    if let Some(best) = &p.best_weights {
        ts.extend(best.iter().map(|t| HostTensor {
            name: format!("best.{}", t.name),
            shape: t.shape.clone(),
            data: t.data.clone(),
        }));
    }
    let mut meta = HashMap::new();
    meta.insert("step".to_string(), p.step.to_string());
    meta.insert("curve".to_string(), p.curve.clone());
    meta.insert("last_loss".to_string(), format!("{:e}", p.last_loss));
    if let Some((acc, epoch)) = p.best {
        meta.insert("best_acc".to_string(), format!("{acc:e}"));
        meta.insert("best_epoch".to_string(), epoch.to_string());
    }
    to_safetensors(ts, Some(meta))
}

fn restore_checkpoint(bytes: &[u8], vm: &VarMap, opt: &mut Sgd) -> Result<Progress> {
    let (ts, meta) = from_safetensors(bytes)?;
    let get = |k: &str| {
        meta.get(k)
            .ok_or_else(|| NnError::Checkpoint(format!("checkpoint lacks `{k}`")))
    };
    let num = |k: &str| -> Result<f64> {
        get(k)?
            .parse()
            .map_err(|e| NnError::Checkpoint(format!("`{k}`: {e}")))
    };
    load_into(vm, &ts, "w.")?;
    opt.load_state(&ts, "v.")?;
    let best_weights: Vec<HostTensor> = ts
        .iter()
        .filter_map(|t| {
            t.name.strip_prefix("best.").map(|n| HostTensor {
                name: n.to_string(),
                shape: t.shape.clone(),
                data: t.data.clone(),
            })
        })
        .collect();
    let best = match meta.contains_key("best_acc") {
        true => Some((num("best_acc")?, num("best_epoch")? as usize)),
        false => None,
    };
    Ok(Progress {
        step: num("step")? as u64,
        curve: get("curve")?.clone(),
        best,
        best_weights: (!best_weights.is_empty()).then_some(best_weights),
        last_loss: num("last_loss")?,
    })
}

/// Run (or resume) a training run.
pub fn train(
    cfg: &TrainConfig,
    data: &TrainData,
    device: &candle_core::Device,
    hooks: &Hooks,
) -> std::result::Result<TrainOutput, StageError> {
    Ok(train_inner(cfg, data, device, hooks)?)
}

fn check_data(cfg: &TrainConfig, data: &TrainData) -> Result<usize> {
    let syn = data.syn;
    cfg.backbone.validate()?;
    if syn.is_empty() {
        return Err(NnError::Input("empty training set".into()));
    }
    if cfg.batch_size < 2 || cfg.epochs == 0 {
        return Err(NnError::Config(
            "batch_size must be >= 2 and epochs >= 1".into(),
        ));
    }
    let mut classes = syn.info.num_classes;
    if let Some((real, grid)) = &data.real {
        if real.len() != syn.len()
            || (real.info.height, real.info.width) != (syn.info.height, syn.info.width)
        {
            return Err(NnError::Input(format!(
                "real set ({} images of {}x{}) must match the synthetic one ({} of {}x{})",
                real.len(),
                real.info.height,
                real.info.width,
                syn.len(),
                syn.info.height,
                syn.info.width
            )));
        }
        if grid.is_empty() || grid.iter().any(|p| !(0.0..=1.0).contains(p)) {
            return Err(NnError::Input(format!(
                "psi grid {grid:?} must be non-empty in [0, 1]"
            )));
        }
        classes = classes.max(real.info.num_classes);
    }
    Ok(classes)
}

/// Loss, accuracy and images of one step.
struct StepOut {
    loss: f64,
    acc: f64,
}

#[allow(clippy::too_many_arguments)]
fn train_step(
    cfg: &TrainConfig,
    data: &TrainData,
    src: &BatchSource,
    model: &Backbone,
    head: &MarginHead,
    opt: &mut Sgd,
    rows: &[usize],
    step: u64,
    lr: f64,
) -> Result<StepOut> {
    let syn = data.syn;
    let mut rng = rng_for(cfg.seed, "step", step);
    let flips: Vec<bool> = rows
        .iter()
        .map(|_| cfg.flip && rng.random::<bool>())
        .collect();
    let a: Vec<usize> = rows.iter().map(|&i| syn.label_a[i] as usize).collect();
    let b: Vec<usize> = rows.iter().map(|&i| syn.label_b[i] as usize).collect();
    let phi: Vec<f32> = rows.iter().map(|&i| syn.phi[i]).collect();
    let mut targets = Targets::mixed(&a, &b, &phi);
    let x = match &data.real {
        None => src.batch(rows, &flips, None)?,
        Some((real, grid)) => {
            let psi = grid[rng.random_range(0..grid.len())];
            // Each synthetic image gets a real partner drawn anew for this batch (seeded by
            // the step), as a batch-level mixup does, not the same real image every epoch.
            let partners: Vec<usize> = rows
                .iter()
                .map(|_| rng.random_range(0..real.len()))
                .collect();
            let yr: Vec<usize> = partners.iter().map(|&i| real.label_a[i] as usize).collect();
            targets = targets.with_domain(&yr, psi)?;
            src.batch(rows, &flips, Some((&partners, psi)))?
        }
    };
    let emb = model.forward_rng(&x, true, Some(&mut rng))?;
    let out = head.forward(&emb, &targets)?;
    let grads = out.loss.backward()?;
    opt.step(&grads, lr)?;
    let loss = f64::from(out.loss.to_dtype(DType::F32)?.to_scalar::<f32>()?);
    if !loss.is_finite() {
        return Err(NnError::Input(format!(
            "loss diverged ({loss}) at step {step}"
        )));
    }
    Ok(StepOut {
        loss,
        acc: accuracy(&out.cos, &targets.primary())?,
    })
}

fn evaluate(
    model: &Backbone,
    src: &BatchSource,
    split: &Split,
    pairs: &Pairs,
    dim: usize,
) -> Result<f64> {
    let mut emb = Vec::with_capacity(split.val.len() * dim);
    for chunk in split.val.chunks(64) {
        let x = src.batch(chunk, &[], None)?;
        let e = model.forward_t(&x, false)?;
        emb.extend(e.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?);
    }
    Ok(pair_accuracy(&emb, dim, pairs))
}

fn train_inner(
    cfg: &TrainConfig,
    data: &TrainData,
    device: &candle_core::Device,
    hooks: &Hooks,
) -> Result<TrainOutput> {
    let classes = check_data(cfg, data)?;
    let syn = data.syn;
    let split = split(syn, cfg.val_ids, cfg.seed);
    if split.train.len() < 2 {
        return Err(NnError::Input(format!(
            "{} training images after holding out validation identities",
            split.train.len()
        )));
    }
    let pairs = build_pairs(
        &split.val_labels,
        VAL_PAIRS,
        &mut rng_for(cfg.seed, "val-pairs", 0),
    );
    let bs = cfg.batch_size.min(split.train.len());
    let per_epoch = (split.train.len() / bs) as u64;
    let total = per_epoch * cfg.epochs as u64;
    let schedule = LrSchedule {
        base: cfg.lr,
        warmup_steps: cfg.warmup_steps,
        total_steps: total,
        schedule: match &cfg.schedule {
            Schedule::Step { milestones, gamma } => Schedule::Step {
                milestones: milestones.iter().map(|e| e * per_epoch).collect(),
                gamma: *gamma,
            },
            Schedule::Cosine => Schedule::Cosine,
        },
    };

    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, device);
    let model = Backbone::new(vb.pp(BACKBONE), &cfg.backbone)?;
    let head = MarginHead::new(
        vb.pp("margin"),
        cfg.backbone.embedding,
        classes,
        cfg.margin,
        cfg.s,
        cfg.m,
    )?;
    init_seeded(&vm, &mut rng_for(cfg.seed, "init", 0))?;
    let mut opt = Sgd::new(&vm, cfg.momentum, cfg.weight_decay)?;
    let params = backbone_tensors(&vm)?
        .iter()
        .filter(|t| !super::layers::is_buffer(&t.name))
        .map(|t| t.data.len())
        .sum();

    let mut p = match hooks
        .checkpoints
        .load()
        .map_err(|e| NnError::Checkpoint(e.to_string()))?
    {
        Some((_, bytes)) => restore_checkpoint(&bytes, &vm, &mut opt)?,
        None => Progress {
            step: 0,
            curve: "step,epoch,lr,loss,train_acc\n".to_string(),
            best: None,
            best_weights: None,
            last_loss: f64::NAN,
        },
    };
    hooks.progress.set_total(total, "steps");
    hooks.progress.inc(p.step.min(total));

    let src = BatchSource::new(
        &syn.images,
        data.real.as_ref().map(|(r, _)| r.images.as_slice()),
        (syn.info.height, syn.info.width),
        cfg.backbone.input_size,
        device,
    )?;
    let start = Instant::now();
    let mut train_secs = 0.0;
    let mut trained = 0usize;
    let mut perm: Option<(u64, Vec<usize>)> = None;
    while p.step < total {
        hooks.cancel.check().map_err(|_| NnError::Cancelled)?;
        let epoch = p.step / per_epoch;
        if perm.as_ref().map(|(e, _)| *e) != Some(epoch) {
            let mut order = split.train.clone();
            order.shuffle(&mut rng_for(cfg.seed, "epoch", epoch));
            perm = Some((epoch, order));
        }
        let order = &perm.as_ref().map(|(_, o)| o.as_slice()).unwrap_or(&[]);
        let k = (p.step % per_epoch) as usize * bs;
        let rows = &order[k..k + bs];
        let lr = schedule.at(p.step);
        let t0 = Instant::now();
        let out = train_step(cfg, data, &src, &model, &head, &mut opt, rows, p.step, lr)?;
        train_secs += t0.elapsed().as_secs_f64();
        trained += bs;
        p.curve.push_str(&format!(
            "{},{},{lr:e},{:e},{:e}\n",
            p.step + 1,
            epoch + 1,
            out.loss,
            out.acc
        ));
        p.last_loss = out.loss;
        p.step += 1;
        hooks.progress.inc(1);
        hooks.progress.set_message(&format!(
            "loss {:.3} acc {:.2} {:.0} img/s",
            out.loss,
            out.acc,
            trained as f64 / train_secs.max(1e-9)
        ));
        if p.step % per_epoch == 0 && !pairs.is_empty() {
            let acc = evaluate(&model, &src, &split, &pairs, cfg.backbone.embedding)?;
            if p.best.is_none_or(|(b, _)| acc > b) {
                p.best = Some((acc, (p.step / per_epoch) as usize));
                p.best_weights = Some(backbone_tensors(&vm)?);
            }
        }
        if cfg.checkpoint_every > 0 && p.step % cfg.checkpoint_every == 0 && p.step < total {
            hooks
                .checkpoints
                .save(p.step, &save_checkpoint(&vm, &opt, &p)?)
                .map_err(|e| NnError::Checkpoint(e.to_string()))?;
        }
    }
    let weights = match p.best_weights.take() {
        Some(best) => best,
        None => backbone_tensors(&vm)?,
    };
    Ok(TrainOutput {
        model: to_safetensors(weights, Some(super::model_meta::metadata(&cfg.backbone)))?,
        curve_csv: p.curve,
        final_loss: p.last_loss,
        best_val: p.best,
        images_per_second: trained as f64 / train_secs.max(1e-9),
        seconds: start.elapsed().as_secs_f64(),
        params,
        steps: total,
        train_images: split.train.len(),
        val_images: split.val.len(),
    })
}
