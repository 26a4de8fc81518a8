//! The resource store: resources, operations, settling operations over time, persistence.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::OpKind;
use crate::error::ErrorDetail;

/// File name of the persisted store inside the data dir.
pub const STORE_FILE: &str = "cloud.json";
/// Version of the `cloud.json` format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Settled operations kept for late pollers; older ones are dropped.
const KEEP_SETTLED_OPS: usize = 5000;

/// Child resources that ARM keeps inline in their parent's body: (parent type, URL segment,
/// array key in `properties`).
pub const INLINE: &[(&str, &str, &str)] = &[
    ("microsoft.network/virtualnetworks", "subnets", "subnets"),
    (
        "microsoft.network/networksecuritygroups",
        "securityrules",
        "securityRules",
    ),
];

/// One stored resource: its ARM body plus bookkeeping ARM does not show.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Res {
    /// Id with the casing of the creating request.
    pub id: String,
    /// Canonical full type, such as `Microsoft.Network/virtualNetworks`.
    pub rtype: String,
    pub sub: String,
    /// Resource group name, lower-case.
    pub group: String,
    /// The ARM representation answered on GET.
    pub body: Value,
    /// Created by a 202 operation still running: GET answers 404 until it completes.
    #[serde(default)]
    pub hidden: bool,
    #[serde(default)]
    pub pending_op: Option<String>,
    /// VMs only: `running`, `stopped`, `deallocated`, `starting`, ...
    #[serde(default)]
    pub power_state: Option<String>,
    /// Lower-case id of the resource whose deletion removes this one (VM of a scale set).
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub seq: u64,
}

impl Res {
    pub fn key(&self) -> String {
        self.id.to_ascii_lowercase()
    }
    pub fn name(&self) -> &str {
        super::ids::name_of(&self.id)
    }
    pub fn location(&self) -> Option<&str> {
        self.body.get("location").and_then(Value::as_str)
    }
    pub fn provisioning_state(&self) -> Option<&str> {
        self.body
            .pointer("/properties/provisioningState")
            .and_then(Value::as_str)
    }
}

/// A long-running operation. Its status is a function of the clock: in progress until
/// `done_at_ms`, then succeeded or failed; `settled` records that its effects were applied.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Operation {
    pub id: String,
    pub kind: OpKind,
    /// Lower-case id of the resource the request addressed.
    pub target: String,
    pub rtype: String,
    /// Other resources (lower-case ids) whose state settles with this operation.
    #[serde(default)]
    pub also: Vec<String>,
    /// Resources removed when this operation succeeds (scale-in).
    #[serde(default)]
    pub removes: Vec<String>,
    /// Power state a VM action leaves behind.
    #[serde(default)]
    pub action: Option<String>,
    pub started_ms: u64,
    pub done_at_ms: u64,
    #[serde(default)]
    pub failure: Option<ErrorDetail>,
    #[serde(default)]
    pub settled: bool,
}

/// Terminal outcome written into bodies when an operation settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Creating,
    Updating,
    Deleting,
    Succeeded,
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Creating => "Creating",
            Phase::Updating => "Updating",
            Phase::Deleting => "Deleting",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
        }
    }
}

/// Whether an operation may complete: something outside the store (a VM's host booting, a
/// PostgreSQL server starting) can hold it past its clock, or fail it.
pub trait OpGate: Send + Sync + std::fmt::Debug {
    /// Readiness of the resource with this lower-case id (a VM, a PostgreSQL server or
    /// database: see `GATED`) for operation `op`.
    fn hold(&self, key: &str, op: &str) -> Hold;
}

/// The types whose create/update operations an `OpGate` holds.
const GATED: [&str; 3] = [
    "Microsoft.Compute/virtualMachines",
    "Microsoft.DBforPostgreSQL/flexibleServers",
    "Microsoft.DBforPostgreSQL/flexibleServers/databases",
];

/// Claims public addresses for this cloud, machine-wide (hosts enabled only: two clouds
/// with hosts on one machine must not forward the same address).
pub trait AddressClaims: Send + Sync + std::fmt::Debug {
    /// Whether `ip` is now this cloud's (false: another cloud on the machine holds it).
    fn claim(&self, ip: std::net::Ipv4Addr) -> bool;
}

/// What an `OpGate` says about one VM.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    not(feature = "hosts"),
    allow(
        dead_code,
        reason = "only the host realizer (feature `hosts`) holds operations"
    )
)]
pub enum Hold {
    Ready,
    /// Not yet: the operation's deadline moves `GATE_RETRY_MS` later.
    Wait,
    /// The operation fails with this error.
    Failed(ErrorDetail),
}

/// How far a held operation's deadline moves each time it is found waiting.
const GATE_RETRY_MS: u64 = 100;

/// All resources and operations of the local cloud.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Store {
    #[serde(default)]
    pub version: u32,
    /// Keyed by lower-case id.
    pub resources: BTreeMap<String, Res>,
    pub ops: BTreeMap<String, Operation>,
    #[serde(default)]
    pub next_seq: u64,
    /// Holds VM and PostgreSQL create/update operations until what they made is up (hosts
    /// enabled only).
    #[serde(skip)]
    pub gate: Option<Arc<dyn OpGate>>,
    /// Claims public addresses machine-wide before they are handed out (hosts enabled only).
    #[serde(skip)]
    pub claims: Option<Arc<dyn AddressClaims>>,
}

impl Store {
    pub fn get(&self, id: &str) -> Option<&Res> {
        self.resources.get(&id.to_ascii_lowercase())
    }

    /// A resource as clients see it: hidden (202-create in flight) ones do not exist yet.
    pub fn visible(&self, id: &str) -> Option<&Res> {
        self.get(id).filter(|r| !r.hidden)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Res> {
        self.resources.get_mut(&id.to_ascii_lowercase())
    }

    pub fn insert(&mut self, mut res: Res) {
        if res.seq == 0 {
            self.next_seq += 1;
            res.seq = self.next_seq;
        }
        self.resources.insert(res.key(), res);
    }

    pub fn of_type<'a>(&'a self, rtype: &'a str) -> impl Iterator<Item = &'a Res> + 'a {
        self.resources
            .values()
            .filter(move |r| !r.hidden && r.rtype.eq_ignore_ascii_case(rtype))
    }

    /// Applies every operation whose time has come. Returns whether anything changed.
    pub fn settle(&mut self, now_ms: u64) -> bool {
        if let Some(gate) = self.gate.clone() {
            self.apply_gate(gate.as_ref(), now_ms);
        }
        let mut due: Vec<(u64, String)> = self
            .ops
            .values()
            .filter(|o| !o.settled && o.done_at_ms <= now_ms)
            .map(|o| (o.done_at_ms, o.id.clone()))
            .collect();
        if due.is_empty() {
            return false;
        }
        due.sort();
        for (_, id) in due {
            let Some(op) = self.ops.get_mut(&id) else {
                continue;
            };
            op.settled = true;
            let op = op.clone();
            self.apply(&op);
        }
        self.prune_ops();
        true
    }

    /// Due create/update operations whose new VMs or servers are not ready yet are postponed (so the
    /// status polls and `provisioningState` stay consistent: both follow `done_at_ms`);
    /// those with a failed VM fail.
    fn apply_gate(&mut self, gate: &dyn OpGate, now_ms: u64) {
        let due: Vec<String> = self
            .ops
            .values()
            .filter(|o| {
                !o.settled
                    && o.done_at_ms <= now_ms
                    && o.failure.is_none()
                    && matches!(o.kind, OpKind::Create | OpKind::Update)
            })
            .map(|o| o.id.clone())
            .collect();
        for id in due {
            let Some(op) = self.ops.get(&id) else {
                continue;
            };
            let (mut wait, mut fail) = (false, None);
            for rid in std::iter::once(&op.target).chain(op.also.iter()) {
                let held = self.resources.get(rid).is_some_and(|r| {
                    GATED.iter().any(|t| r.rtype.eq_ignore_ascii_case(t))
                        && r.pending_op.as_deref() == Some(id.as_str())
                        && self.realized(r)
                });
                if held {
                    match gate.hold(rid, &id) {
                        Hold::Ready => {}
                        Hold::Wait => wait = true,
                        Hold::Failed(d) => fail = Some(d),
                    }
                }
            }
            if let Some(op) = self.ops.get_mut(&id) {
                if fail.is_some() {
                    op.failure = fail;
                } else if wait {
                    op.done_at_ms = now_ms + GATE_RETRY_MS;
                }
            }
        }
    }

    /// Whether something outside the store makes `r`: a VM always (its host), a
    /// PostgreSQL server or database only when its server has an address of the local
    /// cloud (`properties.localCloud`, VNet-integrated with hosts on).
    fn realized(&self, r: &Res) -> bool {
        if !r.rtype.starts_with("Microsoft.DBforPostgreSQL/") {
            return true;
        }
        let key = r.key();
        let server = key.split("/databases/").next().unwrap_or(&key);
        self.resources
            .get(server)
            .is_some_and(|s| s.body.pointer("/properties/localCloud/address").is_some())
    }

    fn apply(&mut self, op: &Operation) {
        let ok = op.failure.is_none();
        match op.kind {
            OpKind::Create | OpKind::Update => {
                let phase = if ok { Phase::Succeeded } else { Phase::Failed };
                for id in std::iter::once(&op.target).chain(op.also.iter()) {
                    self.finish(id, &op.id, phase);
                }
                // Scale-in victims go with the operation, or stay (Failed) when it fails.
                for id in &op.removes {
                    if ok {
                        self.remove_cascade(id);
                    } else {
                        self.finish(id, &op.id, Phase::Failed);
                    }
                }
            }
            OpKind::Delete if ok => {
                for id in std::iter::once(&op.target).chain(op.also.iter()) {
                    self.remove_cascade(id);
                }
            }
            OpKind::Delete => self.finish(&op.target, &op.id, Phase::Failed),
            OpKind::Action => {
                if let Some(r) = self.get_mut(&op.target) {
                    if ok {
                        r.power_state = op.action.clone();
                    }
                    if r.pending_op.as_deref() == Some(op.id.as_str()) {
                        r.pending_op = None;
                    }
                }
            }
        }
    }

    /// Moves a resource (or inline child) touched by `op_id` to its terminal state.
    fn finish(&mut self, id: &str, op_id: &str, phase: Phase) {
        if let Some(r) = self.get_mut(id) {
            if r.pending_op.as_deref() != Some(op_id) {
                return; // a later operation owns this resource now
            }
            r.pending_op = None;
            r.hidden = false;
            set_state(&mut r.body, phase);
            super::types::on_settled(r, phase);
        } else if let Some(child) = self.inline_child_mut(id) {
            set_state(child, phase);
        }
    }

    /// The inline child body (subnet, security rule) with this id, if any.
    pub fn inline_child(&self, id: &str) -> Option<&Value> {
        let (parent, seg, name) = split_child(id)?;
        let res = self.resources.get(&parent).filter(|r| !r.hidden)?;
        let key = inline_key(&res.rtype, &seg)?;
        let arr = res
            .body
            .pointer(&format!("/properties/{key}"))?
            .as_array()?;
        arr.iter().find(|c| {
            c.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(&name))
        })
    }

    /// Mutable access to an inline child body.
    pub fn inline_child_mut(&mut self, id: &str) -> Option<&mut Value> {
        let (parent, seg, name) = split_child(id)?;
        let res = self.resources.get_mut(&parent)?;
        let key = inline_key(&res.rtype, &seg)?;
        let arr = res
            .body
            .pointer_mut(&format!("/properties/{key}"))?
            .as_array_mut()?;
        arr.iter_mut().find(|c| {
            c.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(&name))
        })
    }

    /// Everything deleting `id` removes: itself, its children, what it owns, and for a
    /// resource group every resource in it.
    pub fn cascade_set(&self, id: &str) -> HashSet<String> {
        let root = id.to_ascii_lowercase();
        let mut set: HashSet<String> = HashSet::new();
        let rg = self
            .get(&root)
            .filter(|r| r.rtype == super::types::RESOURCE_GROUP)
            .map(|r| (r.sub.clone(), r.group.clone()));
        for (k, r) in &self.resources {
            let in_group = rg
                .as_ref()
                .is_some_and(|(s, g)| &r.sub == s && &r.group == g);
            if *k == root || k.starts_with(&format!("{root}/")) || in_group {
                set.insert(k.clone());
            }
        }
        loop {
            let more: Vec<String> = self
                .resources
                .iter()
                .filter(|(k, r)| {
                    !set.contains(*k) && r.owner.as_ref().is_some_and(|o| set.contains(o))
                })
                .map(|(k, _)| k.clone())
                .collect();
            if more.is_empty() {
                return set;
            }
            set.extend(more);
        }
    }

    /// Removes `id` and its cascade; an inline child is cut out of its parent's array.
    pub fn remove_cascade(&mut self, id: &str) {
        if self.get(id).is_none() {
            if let Some((parent, seg, name)) = split_child(id)
                && let Some(res) = self.resources.get_mut(&parent)
                && let Some(key) = inline_key(&res.rtype, &seg)
                && let Some(arr) = res
                    .body
                    .pointer_mut(&format!("/properties/{key}"))
                    .and_then(Value::as_array_mut)
            {
                arr.retain(|c| {
                    !c.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.eq_ignore_ascii_case(&name))
                });
            }
            return;
        }
        for k in self.cascade_set(id) {
            self.resources.remove(&k);
        }
    }

    /// Resources outside `excluding` whose body references `target` (or something inside
    /// it, like a subnet of a VNet). Self references inside a body do not count.
    pub fn referrers(&self, target: &str, excluding: &HashSet<String>) -> Vec<String> {
        let target = target.to_ascii_lowercase();
        let prefix = format!("{target}/");
        self.resources
            .iter()
            .filter(|(k, _)| !excluding.contains(*k))
            .filter(|(k, r)| {
                let own = format!("{k}/");
                let mut ids = Vec::new();
                collect_ids(&r.body, &mut ids);
                ids.iter().any(|i| {
                    let i = i.to_ascii_lowercase();
                    i != **k && !i.starts_with(&own) && (i == target || i.starts_with(&prefix))
                })
            })
            .map(|(_, r)| r.id.clone())
            .collect()
    }

    fn prune_ops(&mut self) {
        let settled = self.ops.values().filter(|o| o.settled).count();
        if settled <= KEEP_SETTLED_OPS {
            return;
        }
        let mut old: Vec<(u64, String)> = self
            .ops
            .values()
            .filter(|o| o.settled)
            .map(|o| (o.done_at_ms, o.id.clone()))
            .collect();
        old.sort();
        for (_, id) in old.into_iter().take(settled - KEEP_SETTLED_OPS) {
            self.ops.remove(&id);
        }
    }
}

/// Writes `properties.provisioningState`.
pub fn set_state(body: &mut Value, phase: Phase) {
    if let Some(obj) = body.as_object_mut() {
        let props = obj
            .entry("properties")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(p) = props.as_object_mut() {
            p.insert(
                "provisioningState".into(),
                Value::String(phase.as_str().into()),
            );
        }
    }
}

/// `(parent id lower-case, child segment lower-case, child name)` of an inline child id.
fn split_child(id: &str) -> Option<(String, String, String)> {
    let lower = id.to_ascii_lowercase();
    let mut parts = lower.rsplitn(3, '/');
    let name = parts.next()?.to_string();
    let seg = parts.next()?.to_string();
    let parent = parts.next()?.to_string();
    INLINE
        .iter()
        .any(|(_, s, _)| *s == seg)
        .then_some((parent, seg, name))
}

/// The `properties` array key holding inline children `seg` of a parent of type `rtype`.
pub fn inline_key(rtype: &str, seg: &str) -> Option<&'static str> {
    let t = rtype.to_ascii_lowercase();
    INLINE
        .iter()
        .find(|(p, s, _)| *p == t && s.eq_ignore_ascii_case(seg))
        .map(|(_, _, k)| *k)
}

fn collect_ids(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                match val {
                    Value::String(s) if k == "id" || k.ends_with("ResourceId") => {
                        out.push(s.clone())
                    }
                    _ => collect_ids(val, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_ids(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(id: &str, rtype: &str, owner: Option<&str>, body: Value) -> Res {
        let mut b = body;
        b["id"] = id.into();
        Res {
            id: id.into(),
            rtype: rtype.into(),
            sub: "s".into(),
            group: "rg".into(),
            body: b,
            hidden: false,
            pending_op: None,
            power_state: None,
            owner: owner.map(str::to_ascii_lowercase),
            seq: 0,
        }
    }

    const RG: &str = "/subscriptions/s/resourceGroups/rg";

    fn sample() -> Store {
        let mut s = Store::default();
        let p = |t: &str, n: &str| format!("{RG}/providers/{t}/{n}");
        s.insert(res(
            RG,
            super::super::types::RESOURCE_GROUP,
            None,
            json!({}),
        ));
        let vnet = p("Microsoft.Network/virtualNetworks", "v");
        s.insert(res(
            &vnet,
            "Microsoft.Network/virtualNetworks",
            None,
            json!({"properties": {"subnets": [
            {"name": "a", "id": format!("{vnet}/subnets/a"), "properties": {}}]}}),
        ));
        let vmss = p("Microsoft.Compute/virtualMachineScaleSets", "ss");
        s.insert(res(
            &vmss,
            "Microsoft.Compute/virtualMachineScaleSets",
            None,
            json!({}),
        ));
        let vm = p("Microsoft.Compute/virtualMachines", "ss_1");
        s.insert(res(
            &vm,
            "Microsoft.Compute/virtualMachines",
            Some(&vmss),
            json!({}),
        ));
        s.insert(res(
            &p("Microsoft.Network/networkInterfaces", "ss_1-nic"),
            "Microsoft.Network/networkInterfaces",
            Some(&vm),
            json!({"properties": {"ipConfigurations": [{"properties": {"subnet": {"id": format!("{vnet}/subnets/a")}}}]}}),
        ));
        s
    }

    #[test]
    fn cascades_follow_children_owners_and_groups() {
        let s = sample();
        let vmss = format!("{RG}/providers/Microsoft.Compute/virtualMachineScaleSets/ss");
        let set = s.cascade_set(&vmss);
        assert_eq!(set.len(), 3, "scale set, its VM and the VM's NIC: {set:?}");
        assert_eq!(s.cascade_set(RG).len(), s.resources.len());
    }

    #[test]
    fn references_block_deletes_from_outside_the_cascade() {
        let s = sample();
        let vnet = format!("{RG}/providers/Microsoft.Network/virtualNetworks/v");
        let users = s.referrers(&vnet, &s.cascade_set(&vnet));
        assert_eq!(users.len(), 1, "the NIC uses a subnet of the VNet");
        let vmss = format!("{RG}/providers/Microsoft.Compute/virtualMachineScaleSets/ss");
        let mut both = s.cascade_set(&vmss);
        both.extend(s.cascade_set(&vnet));
        assert!(s.referrers(&vnet, &both).is_empty());
    }

    #[derive(Debug)]
    struct Gate(std::sync::Mutex<Hold>);
    impl OpGate for Gate {
        fn hold(&self, _vm: &str, _op: &str) -> Hold {
            self.0.lock().unwrap().clone()
        }
    }

    #[test]
    fn a_gate_holds_vm_creates_until_ready_or_fails_them() {
        let mut s = sample();
        let vm = format!("{RG}/providers/Microsoft.Compute/virtualMachines/ss_1");
        let vmss = format!("{RG}/providers/Microsoft.Compute/virtualMachineScaleSets/ss");
        let mut op = super::super::ops::new_op(
            OpKind::Create,
            &vmss,
            "Microsoft.Compute/virtualMachineScaleSets",
            1000,
            std::time::Duration::from_millis(100),
            None,
        );
        op.also = vec![vm.to_ascii_lowercase()];
        let op_id = op.id.clone();
        s.get_mut(&vm).unwrap().pending_op = Some(op_id.clone());
        s.get_mut(&vmss).unwrap().pending_op = Some(op_id.clone());
        s.ops.insert(op_id.clone(), op);
        let gate = Arc::new(Gate(std::sync::Mutex::new(Hold::Wait)));
        s.gate = Some(gate.clone());
        assert!(!s.settle(1200), "held while the host boots");
        assert_eq!(s.ops[&op_id].done_at_ms, 1200 + GATE_RETRY_MS);
        assert_eq!(
            super::super::ops::status(&s.ops[&op_id], 1250),
            "InProgress",
            "polls agree"
        );
        *gate.0.lock().unwrap() = Hold::Ready;
        assert!(s.settle(1300));
        assert_eq!(s.get(&vm).unwrap().provisioning_state(), Some("Succeeded"));

        let mut op2 = super::super::ops::new_op(
            OpKind::Update,
            &vmss,
            "Microsoft.Compute/virtualMachineScaleSets",
            2000,
            std::time::Duration::from_millis(10),
            None,
        );
        op2.also = vec![vm.to_ascii_lowercase()];
        s.get_mut(&vm).unwrap().pending_op = Some(op2.id.clone());
        let id2 = op2.id.clone();
        s.ops.insert(id2.clone(), op2);
        *gate.0.lock().unwrap() = Hold::Failed(ErrorDetail {
            code: "OSProvisioningClientError".into(),
            message: "no sshd".into(),
        });
        assert!(s.settle(3000));
        assert_eq!(super::super::ops::status(&s.ops[&id2], 3000), "Failed");
        assert_eq!(s.get(&vm).unwrap().provisioning_state(), Some("Failed"));
    }

    #[test]
    fn settling_applies_operations_whose_time_has_come() {
        let mut s = sample();
        let vnet = format!("{RG}/providers/Microsoft.Network/virtualNetworks/v");
        let subnet = format!("{vnet}/subnets/a");
        let op = super::super::ops::new_op(
            OpKind::Delete,
            &subnet,
            "Microsoft.Network/virtualNetworks/subnets",
            1000,
            std::time::Duration::from_millis(100),
            None,
        );
        s.ops.insert(op.id.clone(), op);
        assert!(!s.settle(1050));
        assert!(s.inline_child(&subnet).is_some());
        assert!(s.settle(1100));
        assert!(
            s.inline_child(&subnet).is_none(),
            "the subnet is cut out of the VNet"
        );
        assert!(s.get(&vnet).is_some());
        assert!(!s.settle(2000), "an operation settles once");
    }
}
