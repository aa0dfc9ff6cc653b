//! `[strategies]`: how the strategy runner runs strategies (README.md, "Strategies").

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[strategies]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StrategiesConfig {
    /// Strategy runs (processes) executing at once, ≥ 1; the runs due beyond it wait for a
    /// place. Default: the number of CPU cores (`std::thread::available_parallelism`, 2
    /// when unknown).
    pub max_concurrent: usize,
}

impl Default for StrategiesConfig {
    fn default() -> Self {
        StrategiesConfig {
            max_concurrent: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

impl StrategiesConfig {
    /// Refuses `max_concurrent = 0`.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_concurrent == 0 {
            return Err(ConfigError::invalid(
                "strategies.max_concurrent",
                "must be at least 1 (strategy runs at once)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_by_default_a_number_at_least_one() {
        let parse = |text: &str| toml::from_str::<StrategiesConfig>(text).map(|c| c.max_concurrent);
        assert!(parse("").unwrap() >= 1);
        assert_eq!(
            parse("").unwrap(),
            std::thread::available_parallelism().map_or(2, |n| n.get())
        );
        assert_eq!(parse("max_concurrent = 3").unwrap(), 3);
        assert!(parse("max_concurrent = -1").is_err());
        assert!(parse("max_concurrent = \"many\"").is_err());
        assert!(parse("max_runs = 3").is_err(), "unknown keys are refused");
        let zero = StrategiesConfig { max_concurrent: 0 };
        assert!(
            zero.validate()
                .unwrap_err()
                .to_string()
                .contains("strategies.max_concurrent")
        );
        assert!(StrategiesConfig { max_concurrent: 1 }.validate().is_ok());
    }
}
