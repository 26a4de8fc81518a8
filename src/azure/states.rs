//! ARM's provisioning and power states as types, where decisions are made on them. Each
//! keeps the exact word ARM sent (an unknown one is carried as `Other`), so nothing a newer
//! api-version says is lost or renamed on the way to the inventory or the state file.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// `properties.provisioningState` (or an instance view's `ProvisioningState/...` code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProvisioningState {
    Succeeded,
    Failed,
    Canceled,
    Creating,
    Updating,
    Deleting,
    /// Any other word, kept as ARM wrote it (`Accepted`, `Migrating`, `static`, ...).
    Other(String),
}

impl ProvisioningState {
    /// Parses ARM's word (case-insensitive, as ARM is).
    pub fn parse(s: &str) -> ProvisioningState {
        use ProvisioningState::*;
        match s.to_ascii_lowercase().as_str() {
            "succeeded" => Succeeded,
            "failed" => Failed,
            "canceled" | "cancelled" => Canceled,
            "creating" => Creating,
            "updating" => Updating,
            "deleting" => Deleting,
            _ => Other(s.to_owned()),
        }
    }

    /// The word as written in ARM's documentation (or as received, for `Other`).
    pub fn as_str(&self) -> &str {
        use ProvisioningState::*;
        match self {
            Succeeded => "Succeeded",
            Failed => "Failed",
            Canceled => "Canceled",
            Creating => "Creating",
            Updating => "Updating",
            Deleting => "Deleting",
            Other(s) => s,
        }
    }
}

/// A VM's `PowerState/...` code from its instance view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PowerState {
    Running,
    Starting,
    Stopping,
    Stopped,
    Deallocating,
    Deallocated,
    /// No power state was reported.
    Unknown,
    /// Any other word, kept as ARM wrote it.
    Other(String),
}

impl PowerState {
    /// Parses the part after `PowerState/`.
    pub fn parse(s: &str) -> PowerState {
        use PowerState::*;
        match s {
            "running" => Running,
            "starting" => Starting,
            "stopping" => Stopping,
            "stopped" => Stopped,
            "deallocating" => Deallocating,
            "deallocated" => Deallocated,
            "unknown" => Unknown,
            _ => Other(s.to_owned()),
        }
    }

    /// The word after `PowerState/`.
    pub fn as_str(&self) -> &str {
        use PowerState::*;
        match self {
            Running => "running",
            Starting => "starting",
            Stopping => "stopping",
            Stopped => "stopped",
            Deallocating => "deallocating",
            Deallocated => "deallocated",
            Unknown => "unknown",
            Other(s) => s,
        }
    }
}

macro_rules! as_word {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map(|s| <$t>::parse(&s))
            }
        }
    };
}
as_word!(ProvisioningState);
as_word!(PowerState);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_unknown_ones_are_kept() {
        for w in ["Succeeded", "Creating", "Migrating"] {
            let p = ProvisioningState::parse(w);
            assert_eq!(serde_json::to_value(&p).unwrap(), w);
        }
        assert_eq!(
            ProvisioningState::parse("succeeded"),
            ProvisioningState::Succeeded
        );
        assert_eq!(PowerState::parse("deallocated"), PowerState::Deallocated);
        let p: PowerState = serde_json::from_str("\"hibernated\"").unwrap();
        assert_eq!(p.as_str(), "hibernated");
    }
}
