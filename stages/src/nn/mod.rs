//! candle networks (IR-ResNet, MobileFaceNet), margin heads and training utilities.
