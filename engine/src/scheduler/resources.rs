//! Resource accounts of the dispatcher: CPU threads (`--jobs`), GPUs (`--gpus`, pinned by
//! ordinal) and a memory budget, with the peaks reached (so tests can assert budgets).

use crate::gpu::GpuInfo;
use crate::stage::{Device, Resources};

/// What a running instance was granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub threads: usize,
    pub device: Device,
    pub mem_mb: u64,
}

/// Budgets and current use.
#[derive(Debug)]
pub struct Accounts {
    jobs: usize,
    mem_budget: u64,
    gpu_busy: Vec<bool>,
    threads_used: usize,
    mem_used: u64,
    pub peak_threads: usize,
    pub peak_gpus: usize,
    pub peak_mem_mb: u64,
}

impl Accounts {
    /// `jobs` CPU threads (at least 1), `gpus`, `mem_mb` memory budget (0 = unlimited).
    pub fn new(jobs: usize, gpus: GpuInfo, mem_mb: u64) -> Self {
        Accounts {
            jobs: jobs.max(1),
            mem_budget: mem_mb,
            gpu_busy: vec![false; gpus.count],
            threads_used: 0,
            mem_used: 0,
            peak_threads: 0,
            peak_gpus: 0,
            peak_mem_mb: 0,
        }
    }

    /// Grant `r` if it fits now. Requests above a budget are clamped to it (the instance then
    /// runs alone), so every request eventually fits. A GPU request gets a free device, or the
    /// CPU when none is free.
    pub fn try_grant(&mut self, r: &Resources) -> Option<Grant> {
        let threads = r.threads.clamp(1, self.jobs);
        let mem_mb = if self.mem_budget == 0 {
            r.mem_mb
        } else {
            r.mem_mb.min(self.mem_budget)
        };
        if self.threads_used + threads > self.jobs {
            return None;
        }
        if self.mem_budget != 0 && self.mem_used + mem_mb > self.mem_budget {
            return None;
        }
        let device = match self.gpu_busy.iter().position(|b| !b) {
            Some(i) if r.gpu => {
                self.gpu_busy[i] = true;
                Device::Cuda(i)
            }
            _ => Device::Cpu,
        };
        self.threads_used += threads;
        self.mem_used += mem_mb;
        self.peak_threads = self.peak_threads.max(self.threads_used);
        self.peak_mem_mb = self.peak_mem_mb.max(self.mem_used);
        self.peak_gpus = self
            .peak_gpus
            .max(self.gpu_busy.iter().filter(|b| **b).count());
        Some(Grant {
            threads,
            device,
            mem_mb,
        })
    }

    pub fn release(&mut self, g: &Grant) {
        self.threads_used -= g.threads;
        self.mem_used -= g.mem_mb;
        if let Device::Cuda(i) = g.device {
            self.gpu_busy[i] = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(threads: usize, gpu: bool, mem_mb: u64) -> Resources {
        Resources {
            threads,
            gpu,
            mem_mb,
        }
    }

    #[test]
    fn threads_are_bounded_and_clamped() {
        let mut a = Accounts::new(4, GpuInfo::none(), 0);
        let g1 = a.try_grant(&res(3, false, 1)).unwrap();
        assert!(a.try_grant(&res(2, false, 1)).is_none());
        let g2 = a.try_grant(&res(1, false, 1)).unwrap();
        a.release(&g1);
        a.release(&g2);
        let big = a.try_grant(&res(64, false, 1)).unwrap();
        assert_eq!(big.threads, 4);
        assert_eq!(a.peak_threads, 4);
    }

    #[test]
    fn gpus_are_pinned_and_fall_back_to_cpu() {
        let mut a = Accounts::new(8, GpuInfo::with_count(2), 0);
        let g0 = a.try_grant(&res(1, true, 1)).unwrap();
        let g1 = a.try_grant(&res(1, true, 1)).unwrap();
        let g2 = a.try_grant(&res(1, true, 1)).unwrap();
        assert_eq!(
            (g0.device, g1.device, g2.device),
            (Device::Cuda(0), Device::Cuda(1), Device::Cpu)
        );
        a.release(&g0);
        assert_eq!(
            a.try_grant(&res(1, true, 1)).unwrap().device,
            Device::Cuda(0)
        );
        assert_eq!(a.peak_gpus, 2);
        assert_eq!(a.try_grant(&res(1, false, 1)).unwrap().device, Device::Cpu);
    }

    #[test]
    fn memory_budget_is_respected() {
        let mut a = Accounts::new(8, GpuInfo::none(), 1000);
        let g = a.try_grant(&res(1, false, 600)).unwrap();
        assert!(a.try_grant(&res(1, false, 600)).is_none());
        a.release(&g);
        assert_eq!(a.try_grant(&res(1, false, 5000)).unwrap().mem_mb, 1000);
        assert_eq!(a.peak_mem_mb, 1000);
    }
}
