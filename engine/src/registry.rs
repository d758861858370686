//! The registry of stage kinds the engine knows (filled by `synface-stages`).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::stage::Stage;

#[derive(Clone, Default)]
pub struct Registry {
    kinds: BTreeMap<&'static str, Arc<dyn Stage>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn register(&mut self, stage: impl Stage + 'static) -> &mut Self {
        self.kinds.insert(stage.kind(), Arc::new(stage));
        self
    }
    pub fn get(&self, kind: &str) -> Option<&Arc<dyn Stage>> {
        self.kinds.get(kind)
    }
    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.keys().copied()
    }
}
