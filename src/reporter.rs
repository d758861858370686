//! The terminal reporter: one indicatif bar per running stage instance (its own steps and
//! message) on stderr, failures printed as they happen. When stderr is not a terminal, bars
//! give way to plain start, progress and finish lines ([`crate::progress_lines`]).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use synface_engine::events::{Event, EventSink};
use synface_engine::{InstanceId, Plan};

use crate::progress_lines::Lines;

pub struct Reporter {
    multi: MultiProgress,
    bars: Mutex<HashMap<InstanceId, ProgressBar>>,
    tty: bool,
    lines: Lines,
}

impl Reporter {
    pub fn new(plan: &Plan) -> Self {
        let tty = std::io::stderr().is_terminal();
        let target = if tty {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Reporter {
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(HashMap::new()),
            tty,
            lines: Lines::new(plan),
        }
    }

    fn line(&self, msg: String) {
        if self.tty {
            let _ = self.multi.println(msg);
        } else {
            eprintln!("{msg}");
        }
    }

    fn finish(&self, id: InstanceId) {
        if let Some(bar) = self
            .bars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id)
        {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:>24} [{bar:30}] {pos}/{len} {wide_msg} {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn label(stage: &str, points: &[String]) -> String {
    match points {
        [one] => format!("{stage}@{}", &one[..one.len().min(8)]),
        [] => stage.to_string(),
        many => format!("{stage} ({} pts)", many.len()),
    }
}

impl EventSink for Reporter {
    fn event(&self, e: &Event) {
        if !self.tty {
            if let Some(line) = self.lines.line(e) {
                eprintln!("{line}");
            }
        }
        match e {
            Event::Started {
                id,
                stage,
                points,
                device,
                threads,
                ..
            } => {
                let bar = self.multi.add(ProgressBar::new(0).with_style(style()));
                bar.set_prefix(label(stage, points));
                bar.set_message(format!("{device:?} x{threads}"));
                self.bars
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(*id, bar);
            }
            Event::Progress {
                id,
                done,
                total,
                unit,
                message,
                ..
            } => {
                if let Some(bar) = self.bars.lock().unwrap_or_else(|e| e.into_inner()).get(id) {
                    bar.set_length(*total);
                    bar.set_position(*done);
                    bar.set_message(if message.is_empty() {
                        unit.clone()
                    } else {
                        format!("{unit} {message}")
                    });
                }
            }
            Event::Finished { id, .. } | Event::Cancelled { id, .. } => self.finish(*id),
            Event::Failed { id, stage, error } => {
                self.finish(*id);
                self.line(format!("FAILED {stage}: {error}"));
            }
            Event::Skipped { stage, reason, .. } => self.line(format!("skipped {stage}: {reason}")),
            _ => {}
        }
    }
}
