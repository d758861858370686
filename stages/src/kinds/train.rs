//! Stage kind `train`: trains a face-embedding backbone with a margin loss on a `dataset`
//! (identity-mixed labels allowed) or a `mixup_dataset` (domain mixup with a real set).
//!
//! Outputs (`model`): `model.safetensors` + `model.json` (the backbone and its
//! [`BackboneConfig`], read by [`crate::nn::Embedder`]), `curve.csv`
//! (`step,epoch,lr,loss,train_acc`) and `metrics.json`. The loop lives in [`crate::nn::trainer`].

use synface_engine::estimate::{first_facts, Estimate};
use synface_engine::{
    Artifact, Device, Facts, ParamIssue, ParamRule, ParamsSchema, PortSpec, Resources, RunCtx,
    StageError, TypedStage,
};

use super::train_checks::{all_issues, train_issues};
use crate::artifacts::{mixup_set, MODEL, TRAINING_DATA};
use crate::nn::backbone::{Arch, BackboneConfig};
use crate::nn::candle_device;
use crate::nn::margin::MarginKind;
use crate::nn::optim::Schedule;
use crate::nn::trainer::{train, Hooks, TrainConfig, TrainData, TrainOutput};

synface_engine::stage_params! {
    /// Parameters of `train`.
    pub struct TrainParams {
        /// backbone family: `iresnet` or `mobilefacenet`
        arch: Arch = Arch::IResNet => ParamRule::one_of(Arch::NAMES),
        /// blocks per stage
        depths: Vec<u64> = vec![1u64, 1, 1, 1] => ParamRule::at_least(1.0),
        /// channels per stage
        widths: Vec<u64> = vec![16u64, 32, 64, 128] => ParamRule::at_least(1.0),
        /// embedding dimension
        embedding: u64 = 128u64 => ParamRule::at_least(1.0),
        /// square input side (0 = the dataset's image size)
        input_size: u64 = 0u64,
        /// dropout before the embedding layer
        dropout: f64 = 0.0 => ParamRule::at_least(0.0).below(1.0),
        /// margin loss: `cosface` or `arcface`
        margin: MarginKind = MarginKind::CosFace => ParamRule::one_of(MarginKind::NAMES),
        /// logit scale
        s: f64 = 30.0 => ParamRule::above(0.0),
        /// margin, below pi/2 (negative = the margin's default: 0.4 cosface, 0.5 arcface)
        m: f64 = -1.0,
        /// images per step
        batch_size: u64 = 64u64 => ParamRule::at_least(2.0),
        /// passes over the training images
        epochs: u64 = 10u64 => ParamRule::at_least(1.0),
        /// base learning rate
        lr: f64 = 0.1 => ParamRule::above(0.0),
        /// SGD momentum
        momentum: f64 = 0.9 => ParamRule::at_least(0.0).below(1.0),
        /// L2 weight decay
        weight_decay: f64 = 5e-4 => ParamRule::at_least(0.0),
        /// `cosine` or `step`
        schedule: ScheduleKind = ScheduleKind::Cosine => ParamRule::one_of(ScheduleKind::NAMES),
        /// epochs at which the `step` schedule multiplies the rate by `gamma`
        milestones: Vec<u64> = Vec::<u64>::new(),
        /// factor of the `step` schedule at each milestone
        gamma: f64 = 0.1 => ParamRule::above(0.0),
        /// linear warm-up steps
        warmup_steps: u64 = 0u64,
        /// random horizontal flips
        flip: bool = true,
        /// fraction of identities held out for model selection (0 = keep the last weights)
        val_ids: f64 = 0.1 => ParamRule::at_least(0.0).below(1.0),
        /// checkpoint every N steps (0 = never); resuming is exact, so it changes no output
        checkpoint_every: u64 = 100u64 => ParamRule::NONE.not_in_key(),
    }
}

synface_engine::param_enum! {
    /// The learning-rate decay after warm-up.
    pub enum ScheduleKind {
        /// half-cosine to 0 at the last step
        Cosine = "cosine",
        /// multiply by `gamma` at each of `milestones`
        Step = "step",
    }
}

fn usize_of(v: u64, what: &str) -> Result<usize, StageError> {
    usize::try_from(v).map_err(|_| StageError::param(what, format!("{what} {v} is too large")))
}

impl TrainParams {
    /// The training configuration, for images of side `image_size` (used when `input_size` = 0).
    /// The first problem found (declared rules, [`train_issues`]) is an error naming its
    /// parameter.
    pub fn to_config(&self, image_size: usize, seed: u64) -> Result<TrainConfig, StageError> {
        if let Some(first) = all_issues(self, Some(image_size)).into_iter().next() {
            return Err(StageError::param(&first.param, first.message));
        }
        let m = if self.m < 0.0 {
            self.margin.defaults().1
        } else {
            self.m
        };
        let schedule = match self.schedule {
            ScheduleKind::Cosine => Schedule::Cosine,
            ScheduleKind::Step => Schedule::Step {
                milestones: self.milestones.clone(),
                gamma: self.gamma,
            },
        };
        let list = |v: &[u64], what| -> Result<Vec<usize>, StageError> {
            v.iter().map(|&x| usize_of(x, what)).collect()
        };
        let input_size = if self.input_size == 0 {
            image_size
        } else {
            usize_of(self.input_size, "input_size")?
        };
        let backbone = BackboneConfig {
            arch: self.arch,
            depths: list(&self.depths, "depths")?,
            widths: list(&self.widths, "widths")?,
            embedding: usize_of(self.embedding, "embedding")?,
            input_size,
            dropout: self.dropout,
        };
        backbone.validate()?;
        Ok(TrainConfig {
            backbone,
            margin: self.margin,
            s: self.s,
            m,
            batch_size: usize_of(self.batch_size, "batch_size")?,
            epochs: usize_of(self.epochs, "epochs")?,
            lr: self.lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            schedule,
            warmup_steps: self.warmup_steps,
            flip: self.flip,
            val_ids: self.val_ids,
            checkpoint_every: self.checkpoint_every,
            seed,
        })
    }
}

/// The `train` stage kind.
pub struct Train;

impl TypedStage for Train {
    type Params = TrainParams;
    const KIND: &'static str = "train";
    /// 2: domain-mixup partners are drawn anew per batch (1 paired each synthetic image with
    /// the same real image for the whole run). 3: model.safetensors carries metadata
    /// (architecture, preprocessing). 4: the metadata's preprocessing names the crop margin
    /// (`nn::model_meta::META_FORMAT` 2). 5: batch norm (+ PReLU) is one fused op with f64
    /// per-channel sums (`nn/bn_act.rs`) and the weight gradient sums in transposed layout
    /// (`nn/conv.rs`): the same function, other rounding.
    const VERSION: u32 = 5;
    const ABOUT: &'static str =
        "train a face-embedding backbone (IR-ResNet / MobileFaceNet) with CosFace or ArcFace";
    const INPUTS: &'static [PortSpec] = &[PortSpec::new("data", TRAINING_DATA)];
    const OUTPUT: &'static str = MODEL;
    const RESOURCES: Resources = Resources {
        threads: Resources::ALL_CORES,
        gpu: true,
        mem_mb: 4096,
    };

    fn check(&self, p: &TrainParams) -> Vec<ParamIssue> {
        train_issues(p, None)
    }
    fn output_facts(&self, p: &TrainParams, inputs: &[(&str, &Facts)]) -> Facts {
        let side = synface_engine::estimate::fact_u64(inputs, "image_size");
        let mut facts = first_facts(inputs);
        let net = super::cost::train_net(p, side);
        facts.insert("net_flops".into(), toml::Value::Float(net.flops));
        facts
    }
    fn estimate(&self, p: &TrainParams, inputs: &[(&str, &Facts)]) -> Estimate {
        super::cost::train(p, inputs)
    }
    fn check_inputs(&self, p: &TrainParams, inputs: &[(&str, &Facts)]) -> Vec<ParamIssue> {
        inputs
            .iter()
            .filter_map(|(_, f)| f.get("image_size")?.as_integer())
            .filter_map(|side| usize::try_from(side).ok())
            .flat_map(|side| train_issues(p, Some(side)))
            .collect()
    }
    fn run(&self, p: TrainParams, ctx: &RunCtx) -> Result<Artifact, StageError> {
        let (syn, real) = mixup_set::decode_training(ctx.input("data")?)?;
        if syn.info.height != syn.info.width && p.input_size == 0 {
            return Err(StageError::param(
                "input_size",
                format!(
                    "images are {}x{}: set input_size for non-square images",
                    syn.info.height, syn.info.width
                ),
            ));
        }
        let cfg = p.to_config(syn.info.height, ctx.seed)?;
        let device = candle_device(ctx.device);
        let td = TrainData {
            syn: &syn,
            real: real.as_ref().map(|r| (&r.real, r.psi.clone())),
        };
        let hooks = Hooks {
            progress: ctx.progress,
            cancel: ctx.cancel,
            checkpoints: ctx.checkpoints,
        };
        let out = train(&cfg, &td, &device, &hooks)?;
        // Wall-clock figures go to the log, not into the artifact: outputs must be
        // byte-identical across runs (the engine records each instance's run time itself).
        tracing::info!(
            images_per_second = out.images_per_second,
            seconds = out.seconds,
            steps = out.steps,
            "train finished"
        );
        let device = used_device(ctx.device, &device);
        publish(&cfg, out, real.is_some(), device, ctx.params)
    }
}

/// The `model` artifact of a finished training run.
fn publish(
    cfg: &TrainConfig,
    out: TrainOutput,
    domain_mixup: bool,
    device: Device,
    params: &synface_engine::ParamTable,
) -> Result<Artifact, StageError> {
    let mut a = Artifact::new();
    a.publish("model.safetensors", out.model);
    a.publish(
        "model.json",
        serde_json::to_vec_pretty(&cfg.backbone).map_err(StageError::msg)?,
    );
    a.publish("curve.csv", out.curve_csv.into_bytes());
    // The resolved parameters that enter the key (so equal keys give equal bytes), for
    // reports and readers of the run folder.
    let unkeyed = synface_engine::params::rule::unkeyed(&TrainParams::specs());
    let keyed = synface_engine::plan::keyed(params, &unkeyed);
    a.publish(
        "params.json",
        serde_json::to_vec_pretty(&keyed).map_err(StageError::msg)?,
    );
    a.set_metrics(&serde_json::json!({
        "final_loss": out.final_loss,
        "best_val_accuracy": out.best_val.map(|b| b.0),
        "best_epoch": out.best_val.map(|b| b.1),
        "params": out.params,
        "steps": out.steps,
        "train_images": out.train_images,
        "val_images": out.val_images,
        "domain_mixup": domain_mixup,
        "device": format!("{device:?}"),
    }));
    Ok(a)
}

/// The device that actually computed: the scheduler's choice when candle runs there, the CPU
/// when candle fell back to it (a build without CUDA, or no driver).
fn used_device(granted: Device, candle: &candle_core::Device) -> Device {
    match candle {
        candle_core::Device::Cpu => Device::Cpu,
        _ => granted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Dataset;
    use crate::dataset::{DatasetInfo, Domain};
    use crate::nn::Embedder;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    use synface_engine::{
        CancelToken, CheckpointStore, Device, InputArtifact, NoCheckpoints, NoProgress, ParamTable,
        Stage,
    };

    /// `classes` x `per` images of side `size`: class `c` has colour `PALETTE[c]` and a stripe
    /// pattern (orientation and period by class), plus per-image noise and brightness.
    fn patterns(classes: usize, per: usize, size: usize, seed: u64) -> Dataset {
        const PALETTE: [[f32; 3]; 8] = [
            [220.0, 40.0, 40.0],
            [40.0, 200.0, 40.0],
            [40.0, 60.0, 220.0],
            [220.0, 220.0, 40.0],
            [200.0, 40.0, 200.0],
            [40.0, 200.0, 200.0],
            [120.0, 120.0, 120.0],
            [240.0, 140.0, 60.0],
        ];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut images = Vec::new();
        let mut labels = Vec::new();
        for c in 0..classes {
            for _ in 0..per {
                let shift: f32 = rng.random_range(-25.0..25.0);
                for y in 0..size {
                    for x in 0..size {
                        let t = if c % 2 == 0 { y } else { x };
                        let stripe = if (t / (1 + c / 2)) % 2 == 0 { 1.0 } else { 0.6 };
                        for base in PALETTE[c % 8] {
                            let noise: f32 = rng.random_range(-20.0..20.0);
                            let v = base * stripe + shift + noise;
                            images.push(v.clamp(0.0, 255.0) as u8);
                        }
                    }
                }
                labels.push(c as i64);
            }
        }
        Dataset {
            info: DatasetInfo {
                domain: Domain::Synthetic,
                num_classes: classes,
                height: size,
                width: size,
                class_names: vec![],
                identity_ids: vec![],
                sources: vec![],
            },
            images,
            label_b: labels.clone(),
            label_a: labels,
            phi: vec![1.0; classes * per],
            landmarks: None,
        }
    }

    fn params(set: &[(&str, toml::Value)]) -> ParamTable {
        let mut t: ParamTable = TrainParams::specs()
            .into_iter()
            .filter_map(|s| s.default.map(|d| (s.name.to_string(), d)))
            .collect();
        for (k, v) in set {
            t.insert((*k).to_string(), v.clone());
        }
        t
    }

    fn tiny(extra: &[(&str, toml::Value)]) -> ParamTable {
        let ints =
            |v: &[i64]| toml::Value::Array(v.iter().map(|&x| toml::Value::Integer(x)).collect());
        let mut set = vec![
            ("depths", ints(&[1, 1])),
            ("widths", ints(&[4, 8])),
            ("embedding", toml::Value::Integer(8)),
            ("batch_size", toml::Value::Integer(8)),
            ("epochs", toml::Value::Integer(2)),
            ("val_ids", toml::Value::Float(0.34)),
            ("checkpoint_every", toml::Value::Integer(2)),
            ("warmup_steps", toml::Value::Integer(1)),
            ("dropout", toml::Value::Float(0.2)),
        ];
        set.extend(extra.iter().cloned());
        params(&set)
    }

    fn run(
        p: &ParamTable,
        data: Artifact,
        ck: &dyn CheckpointStore,
    ) -> Result<Artifact, StageError> {
        let cancel = CancelToken::new();
        let input = InputArtifact {
            stage: "data".into(),
            point_ids: vec![],
            point: BTreeMap::new(),
            artifact: data,
        };
        let ctx = RunCtx {
            stage: "train",
            params: p,
            inputs: BTreeMap::from([("data".to_string(), vec![input])]),
            seed: 11,
            device: Device::Cpu,
            threads: 1,
            progress: &NoProgress,
            cancel: &cancel,
            checkpoints: ck,
        };
        Stage::run(&Train, &ctx)
    }

    /// Keeps the last checkpoint; fails the stage once a save reaches `stop_at`.
    struct MemCkpt {
        slot: Mutex<Option<(u64, Vec<u8>)>>,
        stop_at: Option<u64>,
        saves: Mutex<Vec<u64>>,
    }
    impl CheckpointStore for MemCkpt {
        fn save(&self, step: u64, bytes: &[u8]) -> Result<(), StageError> {
            *self.slot.lock().unwrap() = Some((step, bytes.to_vec()));
            self.saves.lock().unwrap().push(step);
            match self.stop_at {
                Some(n) if step >= n => Err(StageError::msg("killed")),
                _ => Ok(()),
            }
        }
        fn load(&self) -> Result<Option<(u64, Vec<u8>)>, StageError> {
            Ok(self.slot.lock().unwrap().clone())
        }
    }

    #[test]
    fn resume_gives_identical_weights() {
        // 6 classes, 2 held out: 24 training images, 3 steps per epoch, 6 steps; the kill at
        // step 4 comes after the first validation, so best weights travel in the checkpoint.
        let data = patterns(6, 6, 16, 1).to_artifact().unwrap();
        let p = tiny(&[]);
        let straight = run(&p, data.clone(), &NoCheckpoints).unwrap();
        let mut ck = MemCkpt {
            slot: Mutex::new(None),
            stop_at: Some(4),
            saves: Mutex::new(vec![]),
        };
        assert!(run(&p, data.clone(), &ck).is_err());
        assert_eq!(*ck.saves.lock().unwrap(), vec![2, 4]);
        ck.stop_at = None;
        let resumed = run(&p, data, &ck).unwrap();
        assert_eq!(
            straight.get("model.safetensors").unwrap(),
            resumed.get("model.safetensors").unwrap()
        );
        assert_eq!(
            straight.get("curve.csv").unwrap(),
            resumed.get("curve.csv").unwrap()
        );
        let m = straight.metrics().unwrap();
        assert_eq!(m["steps"], 6);
        assert_eq!(m["val_images"], 12);
        assert!(m["best_val_accuracy"].as_f64().is_some());
        let curve = String::from_utf8(straight.get("curve.csv").unwrap().to_vec()).unwrap();
        assert_eq!(curve.lines().count(), 7);
        assert!(curve.starts_with("step,epoch,lr,loss,train_acc\n1,1,"));
    }

    #[test]
    fn same_seed_same_bytes_at_one_and_two_threads() {
        let data = patterns(4, 6, 16, 2).to_artifact().unwrap();
        let p = tiny(&[("val_ids", toml::Value::Float(0.0))]);
        let at = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| run(&p, data.clone(), &NoCheckpoints).unwrap())
        };
        let (one, two) = (at(1), at(2));
        assert_eq!(
            one.get("model.safetensors").unwrap(),
            two.get("model.safetensors").unwrap()
        );
        let other = run(
            &tiny(&[
                ("val_ids", toml::Value::Float(0.0)),
                ("lr", toml::Value::Float(0.05)),
            ]),
            data,
            &NoCheckpoints,
        )
        .unwrap();
        assert_ne!(
            one.get("model.safetensors").unwrap(),
            other.get("model.safetensors").unwrap()
        );
    }

    #[test]
    fn learns_to_separate_classes() {
        let (classes, per, size) = (8, 12, 16);
        let ds = patterns(classes, per, size, 3);
        let p = tiny(&[
            (
                "widths",
                toml::Value::Array(vec![toml::Value::Integer(8), toml::Value::Integer(16)]),
            ),
            ("embedding", toml::Value::Integer(16)),
            ("batch_size", toml::Value::Integer(16)),
            ("epochs", toml::Value::Integer(8)),
            ("val_ids", toml::Value::Float(0.0)),
            ("dropout", toml::Value::Float(0.0)),
            ("lr", toml::Value::Float(0.05)),
        ]);
        let out = run(&p, ds.to_artifact().unwrap(), &NoCheckpoints).unwrap();
        let curve = String::from_utf8(out.get("curve.csv").unwrap().to_vec()).unwrap();
        let rows: Vec<(usize, f64)> = curve
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[1].parse().unwrap(), f[3].parse().unwrap())
            })
            .collect();
        let epoch_loss = |e: usize| {
            let v: Vec<f64> = rows.iter().filter(|r| r.0 == e).map(|r| r.1).collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        assert!(
            epoch_loss(8) < 0.7 * epoch_loss(1),
            "{} -> {}",
            epoch_loss(1),
            epoch_loss(8)
        );
        // Fresh images of the same classes: nearest class centroid (cosine) must be right.
        let test = patterns(classes, 4, size, 99);
        let e = Embedder::from_artifact(&out, Device::Cpu).unwrap();
        let train_emb = e.embed(&ds.images, ds.len(), size, size).unwrap();
        let test_emb = e.embed(&test.images, test.len(), size, size).unwrap();
        let d = e.dim();
        let unit = |v: &[f32]| {
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.iter().map(|x| x / n).collect::<Vec<f32>>()
        };
        let centroids: Vec<Vec<f32>> = (0..classes)
            .map(|c| {
                let mut s = vec![0f32; d];
                for i in c * per..(c + 1) * per {
                    unit(&train_emb[i * d..(i + 1) * d])
                        .iter()
                        .zip(&mut s)
                        .for_each(|(x, y)| *y += x);
                }
                unit(&s)
            })
            .collect();
        let hits = (0..test.len())
            .filter(|&i| {
                let f = unit(&test_emb[i * d..(i + 1) * d]);
                let best = (0..classes)
                    .max_by(|&a, &b| {
                        let dot =
                            |c: usize| f.iter().zip(&centroids[c]).map(|(x, y)| x * y).sum::<f32>();
                        dot(a).total_cmp(&dot(b))
                    })
                    .unwrap();
                best as i64 == test.label_a[i]
            })
            .count();
        assert!(
            hits as f64 >= 0.9 * test.len() as f64,
            "{hits}/{}",
            test.len()
        );
    }

    #[test]
    fn trains_on_a_domain_mixup_artifact() {
        let syn = patterns(4, 4, 16, 5);
        let mut real = patterns(2, 8, 16, 6);
        real.label_a.iter_mut().for_each(|l| *l += 4);
        real.label_b = real.label_a.clone();
        real.info.num_classes = 6;
        let mut a = Artifact::new();
        syn.add_to(&mut a, "dataset").unwrap();
        real.add_to(&mut a, "real").unwrap();
        a.add("domain_mixup.json", br#"{"psi": [0.0, 0.5, 1.0]}"#.to_vec());
        let p = tiny(&[
            ("val_ids", toml::Value::Float(0.0)),
            ("margin", toml::Value::String("arcface".into())),
        ]);
        let out = run(&p, a.clone(), &NoCheckpoints).unwrap();
        assert_eq!(out.metrics().unwrap()["domain_mixup"], true);
        // A real set of another length is refused.
        let mut short = real.clone();
        short.images.truncate(15 * 16 * 16 * 3);
        short.label_a.truncate(15);
        short.label_b.truncate(15);
        short.phi.truncate(15);
        short.add_to(&mut a, "real").unwrap();
        assert!(run(&p, a, &NoCheckpoints).is_err());
    }

    #[test]
    fn plan_time_checks() {
        // What the planner runs: the declared rules, then the kind's own checks.
        let check = |t: &ParamTable| {
            let mut v = synface_engine::params::rule::rule_issues(&Stage::params(&Train), t);
            v.extend(Stage::check(&Train, t));
            v
        };
        assert!(check(&params(&[])).is_empty());
        let bad = check(&params(&[("arch", toml::Value::String("resnet".into()))]));
        assert_eq!(bad[0].param, "arch");
        let bad = check(&params(&[("margin", toml::Value::String("sphere".into()))]));
        assert_eq!(bad[0].param, "margin");
        assert_eq!(
            check(&params(&[("val_ids", toml::Value::Float(1.0))])).len(),
            1
        );
        let bad = check(&params(&[("m", toml::Value::Float(2.0))]));
        assert_eq!(bad[0].param, "m");
        assert!(Stage::resources(&Train, &params(&[])).gpu);
        let p: TrainParams = synface_engine::params::decode(&params(&[])).unwrap();
        let cfg = p.to_config(32, 0).unwrap();
        assert_eq!(cfg.backbone, BackboneConfig::small(32));
        assert_eq!(cfg.m, 0.4);
    }
}
