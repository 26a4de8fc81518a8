//! The static dependency graph between the resources of one cluster: what must exist before
//! each PUT (deletion runs it backwards).

use std::fmt;

/// Which resource of the cluster a [`super::DesiredResource`] is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKey {
    /// The resource group.
    ResourceGroup,
    /// The NSG.
    NetworkSecurityGroup,
    /// Public IP of the API load balancer.
    ApiPublicIp,
    /// Public IP of the NAT gateway.
    NatPublicIp,
    /// The NAT gateway.
    NatGateway,
    /// The VNet with its subnets.
    VirtualNetwork,
    /// The API load balancer (public frontend).
    LoadBalancer,
    /// The internal API load balancer (private frontend in the node subnet).
    InternalLoadBalancer,
    /// The server scale set.
    Servers,
    /// The agent scale set.
    Agents,
    /// The Postgres private DNS zone.
    PrivateDnsZone,
    /// The zone's VNet link.
    DnsZoneLink,
    /// The Postgres server.
    PostgresServer,
    /// One Postgres database.
    PostgresDatabase(String),
}

impl ResourceKey {
    /// The static dependency graph: what must exist before this resource is PUT. Deletion
    /// runs it in reverse. (The resource group is implied for everything.)
    pub fn dependencies(&self) -> Vec<ResourceKey> {
        use ResourceKey::*;
        match self {
            ResourceGroup => vec![],
            NetworkSecurityGroup | ApiPublicIp | NatPublicIp | PrivateDnsZone => {
                vec![ResourceGroup]
            }
            NatGateway => vec![ResourceGroup, NatPublicIp],
            // The node subnet references the NSG and the NAT gateway.
            VirtualNetwork => vec![ResourceGroup, NetworkSecurityGroup, NatGateway],
            LoadBalancer => vec![ResourceGroup, ApiPublicIp],
            // Its frontend is in the node subnet.
            InternalLoadBalancer => vec![ResourceGroup, VirtualNetwork],
            Servers => vec![
                ResourceGroup,
                VirtualNetwork,
                LoadBalancer,
                InternalLoadBalancer,
            ],
            // Agents are not in the API pool, so they need only the subnet.
            Agents => vec![ResourceGroup, VirtualNetwork],
            DnsZoneLink => vec![ResourceGroup, PrivateDnsZone, VirtualNetwork],
            PostgresServer => vec![ResourceGroup, VirtualNetwork, PrivateDnsZone, DnsZoneLink],
            PostgresDatabase(_) => vec![PostgresServer],
        }
    }
}

impl serde::Serialize for ResourceKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ResourceKey::*;
        let s = match self {
            ResourceGroup => "resource-group",
            NetworkSecurityGroup => "nsg",
            ApiPublicIp => "api-public-ip",
            NatPublicIp => "nat-public-ip",
            NatGateway => "nat-gateway",
            VirtualNetwork => "vnet",
            LoadBalancer => "api-load-balancer",
            InternalLoadBalancer => "api-internal-load-balancer",
            Servers => "servers",
            Agents => "agents",
            PrivateDnsZone => "postgres-dns-zone",
            DnsZoneLink => "postgres-dns-link",
            PostgresServer => "postgres",
            PostgresDatabase(name) => return write!(f, "postgres-database:{name}"),
        };
        f.write_str(s)
    }
}
