//! The whole desired infrastructure of one cluster, built from one plain input struct, with
//! the static dependency graph the `infra` phase schedules by.

use std::fmt;

use serde_json::{Value, json};

use super::dns::{PrivateDnsZoneSpec, VirtualNetworkLinkSpec};
use super::group::ResourceGroupSpec;
use super::lb::{Frontend, LoadBalancerSpec, internal_api_address};
use super::network::{NetworkSecurityGroupSpec, SubnetSpec, VirtualNetworkSpec};
use super::postgres::{PostgresDatabaseSpec, PostgresServerSpec};
use super::public_ip::{NatGatewaySpec, PublicIpSpec};
use super::vmss::{ImageReference, ScaleSetSpec};
use super::{ArmResource, Plan, Secret, owner_tags, plan, redacted, without_paths};

pub use super::graph::ResourceKey;
pub use super::validate::InfraError;

/// Subnet names inside the VNet.
pub const NODE_SUBNET: &str = "nodes";
/// Name of the subnet delegated to PostgreSQL.
pub const POSTGRES_SUBNET: &str = "postgres";
/// Service the Postgres subnet is delegated to.
pub const POSTGRES_DELEGATION: &str = "Microsoft.DBforPostgreSQL/flexibleServers";

/// One scale set's inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePoolInput {
    /// Number of VMs (servers: at least 1; agents: 0 allowed).
    pub count: u32,
    /// VM size (`Standard_D2s_v5`).
    pub vm_size: String,
    /// OS image.
    pub image: ImageReference,
    /// Give each VM its own public IP.
    pub public_ip: bool,
    /// cloud-init text for this pool (see [`super::cloud_init::render`]); no secrets.
    pub cloud_init: String,
}

/// PostgreSQL inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresInput {
    /// Create the server, its DNS zone and databases at all.
    pub enabled: bool,
    /// Major version (`17`).
    pub version: String,
    /// SKU name (`Standard_B2s`).
    pub sku_name: String,
    /// SKU tier (`Burstable`, `GeneralPurpose`, `MemoryOptimized`).
    pub tier: String,
    /// Storage in GiB.
    pub storage_gb: u32,
    /// Databases to create.
    pub databases: Vec<String>,
    /// Admin login.
    pub admin_login: String,
    /// Admin password.
    pub password: Secret,
    /// The globally unique server name (`<name>.postgres.database.azure.com`).
    pub server_name: String,
}

/// Everything the `infra` phase needs, already mapped from the config by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfraInput {
    /// Cluster name (lowercase letters, digits, `-`; used in every resource name).
    pub cluster: String,
    /// Subscription id.
    pub subscription: String,
    /// Azure region.
    pub location: String,
    /// Resource group name.
    pub resource_group: String,
    /// VNet address space CIDR.
    pub address_space: String,
    /// Node subnet CIDR.
    pub node_subnet: String,
    /// Postgres subnet CIDR (at least /28).
    pub postgres_subnet: String,
    /// Sources allowed to reach SSH and the k3s API; used verbatim, never widened.
    pub admin_cidrs: Vec<String>,
    /// Open 80/443 from anywhere for an ingress controller.
    pub ingress: bool,
    /// Server pool.
    pub servers: NodePoolInput,
    /// Agent pool.
    pub agents: NodePoolInput,
    /// Admin user on the VMs.
    pub ssh_user: String,
    /// OpenSSH public key line.
    pub ssh_public_key: String,
    /// PostgreSQL.
    pub postgres: PostgresInput,
}

/// One resource to find-or-create: where it lives, what to PUT, how to compare.
#[derive(Clone, PartialEq)]
pub struct DesiredResource {
    /// Which resource this is.
    pub key: ResourceKey,
    /// Full ARM id.
    pub id: String,
    /// ARM resource type.
    pub resource_type: &'static str,
    /// Pinned api-version for the PUT/GET/DELETE.
    pub api_version: &'static str,
    /// What must exist first.
    pub depends_on: Vec<ResourceKey>,
    body: Value,
    write_only: &'static [&'static str],
    secret: &'static [&'static str],
}

impl DesiredResource {
    fn new<S: ArmResource>(key: ResourceKey, spec: &S, subscription: &str) -> Self {
        Self {
            depends_on: key.dependencies(),
            key,
            id: spec.id(subscription),
            resource_type: S::RESOURCE_TYPE,
            api_version: S::API_VERSION,
            body: spec.body(),
            write_only: S::write_only_paths(),
            secret: S::secret_paths(),
        }
    }

    /// This resource as it should be PUT over `actual`: a scale set never lowers its capacity
    /// here (Azure would choose which VMs go). The `nodes` phase drains the agents it removes
    /// and deletes exactly those VMs, which lowers a Flexible scale set's capacity by itself;
    /// fewer servers it refuses.
    pub fn over(&self, actual: Option<&Value>) -> std::borrow::Cow<'_, DesiredResource> {
        let current = actual
            .and_then(|a| a.pointer("/sku/capacity"))
            .and_then(Value::as_u64);
        let wanted = self.body.pointer("/sku/capacity").and_then(Value::as_u64);
        match (current, wanted) {
            (Some(c), Some(w))
                if matches!(self.key, ResourceKey::Agents | ResourceKey::Servers) && c > w =>
            {
                let mut d = self.clone();
                d.body["sku"]["capacity"] = Value::from(c);
                std::borrow::Cow::Owned(d)
            }
            _ => std::borrow::Cow::Borrowed(self),
        }
    }

    /// The PUT body. It may hold a secret (the Postgres password): send it, never log it.
    pub fn put_body(&self) -> &Value {
        &self.body
    }

    /// The body without write-only fields: what a GET can be compared against.
    pub fn comparable_body(&self) -> Value {
        without_paths(&self.body, self.write_only)
    }

    /// The body with secrets replaced by `"<redacted>"`, for display and snapshots.
    pub fn redacted_body(&self) -> Value {
        redacted(&self.body, self.secret)
    }

    /// Create / update / unchanged against the GET result (`None` on 404).
    pub fn plan(&self, actual: Option<&Value>) -> Plan {
        plan(&self.comparable_body(), actual)
    }

    /// A JSON view for `plan` output and snapshots (secrets redacted).
    pub fn to_display_json(&self) -> Value {
        json!({
            "key": self.key.to_string(),
            "id": self.id,
            "type": self.resource_type,
            "apiVersion": self.api_version,
            "dependsOn": self.depends_on.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "writeOnly": self.write_only,
            "body": self.redacted_body(),
        })
    }
}

impl fmt::Debug for DesiredResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DesiredResource")
            .field("key", &self.key)
            .field("id", &self.id)
            .field("api_version", &self.api_version)
            .field("body", &self.redacted_body())
            .finish()
    }
}

/// Computer name prefix: at most 15 characters (ComputeRP.json), role letter kept.
fn computer_name_prefix(cluster: &str, role: char) -> String {
    let head: String = cluster.chars().take(13).collect();
    format!("{}-{role}", head.trim_end_matches('-'))
}

/// Builds every resource of the cluster, in an order that satisfies the dependency graph.
pub fn desired_infra(input: &InfraInput) -> Result<Vec<DesiredResource>, InfraError> {
    super::validate::validate(input)?;
    let c = &input.cluster;
    let sub = &input.subscription;
    let rg = &input.resource_group;
    let loc = &input.location;
    let tags = owner_tags(c);
    let mut out = Vec::new();

    let group = ResourceGroupSpec {
        name: rg.clone(),
        location: loc.clone(),
        tags: tags.clone(),
    };
    out.push(DesiredResource::new(
        ResourceKey::ResourceGroup,
        &group,
        sub,
    ));

    let nsg = NetworkSecurityGroupSpec {
        name: format!("{c}-nsg"),
        resource_group: rg.clone(),
        location: loc.clone(),
        tags: tags.clone(),
        rules: NetworkSecurityGroupSpec::cluster_rules(&input.admin_cidrs, input.ingress),
    };
    out.push(DesiredResource::new(
        ResourceKey::NetworkSecurityGroup,
        &nsg,
        sub,
    ));

    let pip = |name: String| PublicIpSpec {
        name,
        resource_group: rg.clone(),
        location: loc.clone(),
        tags: tags.clone(),
    };
    let api_pip = pip(format!("{c}-api-pip"));
    let nat_pip = pip(format!("{c}-nat-pip"));
    out.push(DesiredResource::new(
        ResourceKey::ApiPublicIp,
        &api_pip,
        sub,
    ));
    out.push(DesiredResource::new(
        ResourceKey::NatPublicIp,
        &nat_pip,
        sub,
    ));

    let nat = NatGatewaySpec {
        name: format!("{c}-natgw"),
        resource_group: rg.clone(),
        location: loc.clone(),
        tags: tags.clone(),
        public_ip_ids: vec![nat_pip.id(sub)],
    };
    out.push(DesiredResource::new(ResourceKey::NatGateway, &nat, sub));

    let vnet = VirtualNetworkSpec {
        name: format!("{c}-vnet"),
        resource_group: rg.clone(),
        location: loc.clone(),
        tags: tags.clone(),
        address_space: vec![input.address_space.clone()],
        subnets: vec![
            SubnetSpec {
                name: NODE_SUBNET.into(),
                address_prefix: input.node_subnet.clone(),
                nsg_id: Some(nsg.id(sub)),
                nat_gateway_id: Some(nat.id(sub)),
                delegation: None,
            },
            SubnetSpec {
                name: POSTGRES_SUBNET.into(),
                address_prefix: input.postgres_subnet.clone(),
                nsg_id: None,
                nat_gateway_id: None,
                delegation: Some(POSTGRES_DELEGATION.into()),
            },
        ],
    };
    out.push(DesiredResource::new(
        ResourceKey::VirtualNetwork,
        &vnet,
        sub,
    ));

    let lb = LoadBalancerSpec {
        name: format!("{c}-api-lb"),
        resource_group: rg.clone(),
        location: loc.clone(),
        tags: tags.clone(),
        frontend: Frontend::Public(api_pip.id(sub)),
        subscription: sub.clone(),
    };
    out.push(DesiredResource::new(ResourceKey::LoadBalancer, &lb, sub));

    let node_subnet_id = vnet.subnet_id(sub, NODE_SUBNET);
    let ilb = LoadBalancerSpec {
        name: format!("{c}-api-ilb"),
        frontend: Frontend::Private {
            subnet_id: node_subnet_id.clone(),
            address: input
                .node_subnet
                .parse()
                .ok()
                .and_then(internal_api_address)
                .ok_or_else(|| {
                    super::validate::invalid(
                        "node_subnet",
                        &input.node_subnet,
                        "an IPv4 subnet of /29 or larger",
                    )
                })?,
        },
        ..lb.clone()
    };
    out.push(DesiredResource::new(
        ResourceKey::InternalLoadBalancer,
        &ilb,
        sub,
    ));
    let scale_set =
        |suffix: &str, role: char, pool: &NodePoolInput, pools: Vec<String>| ScaleSetSpec {
            name: format!("{c}-{suffix}"),
            resource_group: rg.clone(),
            subscription: sub.clone(),
            location: loc.clone(),
            tags: tags.clone(),
            vm_size: pool.vm_size.clone(),
            capacity: pool.count,
            image: pool.image.clone(),
            computer_name_prefix: computer_name_prefix(c, role),
            admin_username: input.ssh_user.clone(),
            ssh_public_key: input.ssh_public_key.clone(),
            cloud_init: pool.cloud_init.clone(),
            subnet_id: node_subnet_id.clone(),
            backend_pool_ids: pools,
            public_ip_per_vm: pool.public_ip,
        };
    let servers = scale_set(
        "servers",
        's',
        &input.servers,
        vec![lb.backend_pool_id(), ilb.backend_pool_id()],
    );
    let agents = scale_set("agents", 'a', &input.agents, vec![]);
    out.push(DesiredResource::new(ResourceKey::Servers, &servers, sub));
    out.push(DesiredResource::new(ResourceKey::Agents, &agents, sub));

    let pg = &input.postgres;
    if pg.enabled {
        let zone = PrivateDnsZoneSpec {
            name: format!("{c}.private.postgres.database.azure.com"),
            resource_group: rg.clone(),
            tags: tags.clone(),
        };
        let link = VirtualNetworkLinkSpec {
            name: format!("{c}-vnet-link"),
            zone: zone.name.clone(),
            resource_group: rg.clone(),
            tags: tags.clone(),
            vnet_id: vnet.id(sub),
        };
        let server = PostgresServerSpec {
            name: pg.server_name.clone(),
            resource_group: rg.clone(),
            subscription: sub.clone(),
            location: loc.clone(),
            tags: tags.clone(),
            version: pg.version.clone(),
            sku_name: pg.sku_name.clone(),
            sku_tier: pg.tier.clone(),
            storage_gb: pg.storage_gb,
            admin_login: pg.admin_login.clone(),
            admin_password: pg.password.clone(),
            delegated_subnet_id: vnet.subnet_id(sub, POSTGRES_SUBNET),
            private_dns_zone_id: zone.id(sub),
        };
        out.push(DesiredResource::new(
            ResourceKey::PrivateDnsZone,
            &zone,
            sub,
        ));
        out.push(DesiredResource::new(ResourceKey::DnsZoneLink, &link, sub));
        out.push(DesiredResource::new(
            ResourceKey::PostgresServer,
            &server,
            sub,
        ));
        for db in &pg.databases {
            let spec = PostgresDatabaseSpec {
                name: db.clone(),
                server: server.name.clone(),
                resource_group: rg.clone(),
            };
            out.push(DesiredResource::new(
                ResourceKey::PostgresDatabase(db.clone()),
                &spec,
                sub,
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "infra_tests.rs"]
mod tests;
