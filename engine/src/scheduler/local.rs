//! The local executor: runnable instances start on scoped worker threads of this process when
//! the resource accounts (`--jobs`, `--gpus`, `--mem`) grant them room (docs/design.md §5).

use std::thread::Scope;
use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver, Sender};

use super::executor::{Executor, Msg, Peaks, Placement, Task};
use super::resources::Accounts;
use super::worker::{self, ChannelProgress, Env};
use super::SchedOptions;

/// Worker threads in `scope`, sharing `env`.
pub(super) struct LocalExecutor<'scope, 'env> {
    scope: &'scope Scope<'scope, 'env>,
    env: &'env Env<'env>,
    accounts: Accounts,
    grants: std::collections::HashMap<usize, super::Grant>,
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
}

impl<'scope, 'env> LocalExecutor<'scope, 'env> {
    pub fn new(
        scope: &'scope Scope<'scope, 'env>,
        env: &'env Env<'env>,
        opts: &SchedOptions,
    ) -> Self {
        let (tx, rx) = unbounded();
        LocalExecutor {
            scope,
            env,
            accounts: Accounts::new(opts.jobs, opts.gpus, opts.mem_mb),
            grants: Default::default(),
            tx,
            rx,
        }
    }
}

impl Executor for LocalExecutor<'_, '_> {
    fn start(&mut self, task: Task) -> Result<Placement, Task> {
        let inst = &self.env.plan.instances[task.id];
        let Some(grant) = self.accounts.try_grant(&inst.resources) else {
            return Err(task);
        };
        self.grants.insert(task.id, grant);
        let (env, tx) = (self.env, self.tx.clone());
        self.scope.spawn(move || {
            let progress = ChannelProgress::new(task.id, tx.clone());
            let result = worker::execute(env, &task, grant, &progress);
            let _ = tx.send(Msg::Done {
                id: task.id,
                result,
            });
        });
        Ok(Placement {
            device: grant.device,
            threads: grant.threads,
        })
    }

    fn next(&mut self, timeout: Duration) -> Option<Msg> {
        let msg = self.rx.recv_timeout(timeout).ok()?;
        if let Msg::Done { id, .. } = &msg {
            if let Some(g) = self.grants.remove(id) {
                self.accounts.release(&g);
            }
        }
        Some(msg)
    }

    fn stop(&mut self) {
        self.env.stop.cancel();
    }

    fn peaks(&self) -> Peaks {
        Peaks {
            threads: self.accounts.peak_threads,
            gpus: self.accounts.peak_gpus,
            mem_mb: self.accounts.peak_mem_mb,
        }
    }
}
