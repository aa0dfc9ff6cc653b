pub mod clock;
pub mod config;
pub mod exchange;
pub mod types;
