//! The procedural 3D morphable face model and its software rasteriser.
