//! Strategies: programs run after a candle of an attached series closed.

pub mod command;
