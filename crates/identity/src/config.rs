//! The `[identity]` table: which identity systems the service acts on,
//! how click evidence is read and filtered, and where the non-human
//! identity inventory comes from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use phishloop_response::{ActionKind, Connector};
use serde::{Deserialize, Serialize};

use crate::clicks::{ClickFilter, DEFAULT_SCANNER_AGENTS, FieldMap};
use crate::error::ConfigError;
use crate::fanout::{
    CREDENTIAL_KINDS, GOOGLE_KINDS, GRAPH_KINDS, IDENTITY_CONNECTOR, IdentityConnector, LDAP_KINDS, OKTA_KINDS,
};
use crate::google::{GoogleConfig, GoogleConnector};
use crate::graph::{GraphConfig, GraphConnector};
use crate::ldap::{LdapConfig, LdapConnector};
use crate::listing::{AwsListing, GithubListing, Listed, VaultListing};
use crate::nhi::Inventory;
use crate::okta::{OktaConfig, OktaConnector};
use crate::rotation::{RotationConfig, SecretStore};
use crate::secrets::{AwsIamConfig, AwsIamConnector, GithubConfig, GithubConnector, VaultConfig, VaultConnector};

/// The `[identity]` table. Every key is optional and unknown keys are
/// errors. A system acts only when its table is present.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// Microsoft Graph: Entra ID users and application secrets, Exchange
    /// Online inbox rules and Defender URL-click events.
    pub graph: Option<GraphConfig>,
    pub okta: Option<OktaConfig>,
    pub google: Option<GoogleConfig>,
    /// Active Directory or OpenLDAP.
    pub ldap: Option<LdapConfig>,
    pub vault: Option<VaultConfig>,
    pub github: Option<GithubConfig>,
    pub aws: Option<AwsIamConfig>,
    /// The store of the credentials rotate_credentials issues: a Vault KV
    /// version 2 mount through `[identity.vault]`. Without it, rotation
    /// fails and changes nothing.
    pub rotation: Option<RotationConfig>,
    /// How click evidence is read and which entries are not clicks.
    pub clicks: ClickSettings,
    /// Where the inventory of non-human credentials comes from.
    pub inventory: InventorySource,
}

/// The `[identity.clicks]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickSettings {
    /// User-agent fragments of scanners and link previewers; setting it
    /// replaces the built-in list ([`DEFAULT_SCANNER_AGENTS`]).
    pub scanner_user_agents: Vec<String>,
    /// Addresses or CIDR networks of scanners and sandboxes.
    pub scanner_networks: Vec<String>,
    /// Distinct users from one client IP within the window that make a
    /// burst, which is not counted as clicks.
    pub burst_min_users: usize,
    /// Width of the burst window, in seconds.
    pub burst_window_seconds: i64,
    /// Domain added to a bare login (`jdoe`) that matches no recipient.
    pub user_domain: Option<String>,
    /// Named field maps for proxy and DNS logs, chosen per import with
    /// `field_map`; `proxy` and `dns` are built in.
    pub field_maps: BTreeMap<String, FieldMap>,
    /// Cases decided within this many days, with a malicious or
    /// suspicious verdict, are matched when an import names no case or
    /// campaign.
    pub open_case_days: u32,
    /// Polling of Microsoft Defender URL-click events through Graph.
    pub defender: Option<DefenderPolling>,
}

impl Default for ClickSettings {
    fn default() -> Self {
        let filter = ClickFilter::default();
        ClickSettings {
            scanner_user_agents: DEFAULT_SCANNER_AGENTS.iter().map(|agent| agent.to_string()).collect(),
            scanner_networks: filter.scanner_networks,
            burst_min_users: filter.burst_min_users,
            burst_window_seconds: filter.burst_window_seconds,
            user_domain: None,
            field_maps: BTreeMap::new(),
            open_case_days: 30,
            defender: None,
        }
    }
}

impl ClickSettings {
    /// The exclusion settings of `classify_clicks`.
    pub fn filter(&self) -> ClickFilter {
        ClickFilter {
            scanner_user_agents: self.scanner_user_agents.clone(),
            scanner_networks: self.scanner_networks.clone(),
            burst_min_users: self.burst_min_users,
            burst_window_seconds: self.burst_window_seconds,
            user_domain: self.user_domain.clone(),
        }
    }

    /// Returns the field map named `name`: a configured one, or the
    /// built-in `proxy` or `dns`.
    pub fn field_map(&self, name: &str) -> Option<FieldMap> {
        if let Some(map) = self.field_maps.get(name) {
            return Some(map.clone());
        }
        match name {
            "proxy" => Some(FieldMap::proxy()),
            "dns" => Some(FieldMap::dns()),
            _ => None,
        }
    }

    /// Names of every field map an import may choose.
    pub fn field_map_names(&self) -> Vec<String> {
        let mut names: Vec<String> = vec!["proxy".to_string(), "dns".to_string()];
        names.extend(self.field_maps.keys().filter(|name| !matches!(name.as_str(), "proxy" | "dns")).cloned());
        names
    }
}

/// The `[identity.clicks.defender]` table: the service runs an advanced
/// hunting query over `UrlClickEvents` through the `graph` connector
/// (`POST /security/runHuntingQuery`, permission ThreatHunting.Read.All).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DefenderPolling {
    /// Seconds between two queries.
    pub interval_seconds: u64,
    /// Minutes of events each query reads; larger than the interval, so
    /// a late or failed query loses nothing. Repeated events change
    /// nothing, because verdicts merge.
    pub lookback_minutes: u64,
}

impl Default for DefenderPolling {
    fn default() -> Self {
        DefenderPolling { interval_seconds: 300, lookback_minutes: 60 }
    }
}

/// The `[identity.inventory]` table: a file, and the systems whose
/// credentials are listed into the inventory when the service starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InventorySource {
    /// A CSV file (`.csv`) or a JSON array or JSON Lines file (any other
    /// extension) of credentials, read when the service starts.
    pub file: Option<PathBuf>,
    /// List Entra application secrets through `[identity.graph]`.
    pub entra: bool,
    /// List fine-grained tokens through `[identity.github]`.
    pub github: Option<GithubListing>,
    /// List IAM access keys through `[identity.aws]`.
    pub aws: Option<AwsListing>,
    /// List leases through `[identity.vault]`.
    pub vault: Option<VaultListing>,
}

impl InventorySource {
    /// Reads the inventory file; an empty inventory without one.
    ///
    /// # Errors
    ///
    /// Returns the file and the first invalid line.
    pub fn load(&self) -> Result<Inventory, ConfigError> {
        let Some(path) = &self.file else {
            return Ok(Inventory::default());
        };
        read_inventory(path)
    }
}

fn read_inventory(path: &Path) -> Result<Inventory, ConfigError> {
    let fail = |reason: String| ConfigError::InvalidValue {
        connector: "inventory".to_string(),
        field: "file",
        value: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path)
        .map_err(|error| fail(format!("failed to read it: {error}; check the path and permissions")))?;
    let is_csv = path.extension().is_some_and(|extension| extension.eq_ignore_ascii_case("csv"));
    let inventory = if is_csv { Inventory::from_csv(text.as_bytes()) } else { Inventory::from_json(&text) };
    inventory.map_err(|error| fail(error.to_string()))
}

/// The connectors that an [`IdentityConfig`] builds, and the inventory
/// they share.
pub struct IdentitySystems {
    pub inventory: Arc<Inventory>,
    /// The `graph` connector, which also reads Defender click events.
    pub graph: Option<Arc<GraphConnector>>,
    /// Every configured connector under its own name, then the `identity`
    /// connector that carries each identity action out on all of them.
    pub connectors: Vec<Arc<dyn Connector>>,
}

impl std::fmt::Debug for IdentitySystems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.connectors.iter().map(|c| c.name()).collect();
        f.debug_struct("IdentitySystems")
            .field("credentials", &self.inventory.credentials().len())
            .field("connectors", &names)
            .finish_non_exhaustive()
    }
}

impl IdentitySystems {
    /// Reads the inventory file and every connector's credential, and
    /// builds the connectors. No request is sent, so nothing is listed.
    ///
    /// # Errors
    ///
    /// Returns the first invalid setting, unreadable secret or inventory
    /// line, or two connectors with one name.
    pub fn new(config: &IdentityConfig) -> Result<Self, ConfigError> {
        Self::with_inventory(config, config.inventory.load()?)
    }

    /// Like [`IdentitySystems::new`], and first lists the credentials of the
    /// systems `[identity.inventory]` names into the inventory. Returns the
    /// listing's problems (a system that failed, a credential without a
    /// known owner) beside the systems, because a listing that fails must
    /// not keep the service from containing what it does know.
    ///
    /// # Errors
    ///
    /// Returns what [`IdentitySystems::new`] returns, and a listing whose
    /// system has no table.
    pub async fn build(config: &IdentityConfig) -> Result<(Self, Vec<String>), ConfigError> {
        let mut inventory = config.inventory.load()?;
        let listed = list_credentials(config).await?;
        for credential in listed.credentials {
            inventory.add_listed(credential);
        }
        Ok((Self::with_inventory(config, inventory)?, listed.problems))
    }

    fn with_inventory(config: &IdentityConfig, inventory: Inventory) -> Result<Self, ConfigError> {
        let inventory = Arc::new(inventory);
        let rotation = match (&config.rotation, &config.vault) {
            (Some(rotation), Some(vault)) => Some(Arc::new(SecretStore::new(vault, rotation)?)),
            (Some(_), None) => {
                return Err(ConfigError::MissingTable {
                    table: "rotation".to_string(),
                    needs: "vault".to_string(),
                    reason: "rotation stores new secrets in Vault KV".to_string(),
                });
            }
            (None, _) => None,
        };
        let mut members: Vec<(Arc<dyn Connector>, &'static [ActionKind])> = Vec::new();
        let mut graph = None;
        if let Some(settings) = &config.graph {
            let mut connector = GraphConnector::new(settings)?.with_inventory(Arc::clone(&inventory));
            if let Some(store) = &rotation {
                connector = connector.with_rotation(Arc::clone(store));
            }
            let connector = Arc::new(connector);
            graph = Some(Arc::clone(&connector));
            members.push((connector, GRAPH_KINDS));
        }
        if let Some(settings) = &config.okta {
            members.push((Arc::new(OktaConnector::new(settings)?), OKTA_KINDS));
        }
        if let Some(settings) = &config.google {
            members.push((Arc::new(GoogleConnector::new(settings)?), GOOGLE_KINDS));
        }
        if let Some(settings) = &config.ldap {
            members.push((Arc::new(LdapConnector::new(settings)?), LDAP_KINDS));
        }
        if let Some(settings) = &config.vault {
            members.push((Arc::new(VaultConnector::new(settings, Arc::clone(&inventory))?), CREDENTIAL_KINDS));
        }
        if let Some(settings) = &config.github {
            members.push((Arc::new(GithubConnector::new(settings, Arc::clone(&inventory))?), CREDENTIAL_KINDS));
        }
        if let Some(settings) = &config.aws {
            let mut connector = AwsIamConnector::new(settings, Arc::clone(&inventory))?;
            if let Some(store) = &rotation {
                connector = connector.with_rotation(Arc::clone(store));
            }
            members.push((Arc::new(connector), CREDENTIAL_KINDS));
        }
        let mut connectors: Vec<Arc<dyn Connector>> =
            members.iter().map(|(connector, _)| Arc::clone(connector)).collect();
        check_names(&connectors)?;
        connectors.push(Arc::new(IdentityConnector::new(members, rotation.is_some())));
        Ok(IdentitySystems { inventory, graph, connectors })
    }
}

/// Lists the credentials of every system `[identity.inventory]` names, with
/// connectors built for the listing alone.
async fn list_credentials(config: &IdentityConfig) -> Result<Listed, ConfigError> {
    let source = &config.inventory;
    let missing = |system: &str| ConfigError::MissingTable {
        table: "inventory".to_string(),
        needs: system.to_string(),
        reason: format!("listing credentials from {system} goes through its connector"),
    };
    let empty = Arc::new(Inventory::default());
    let mut listed = Listed::default();
    if source.entra {
        let graph = config.graph.as_ref().ok_or_else(|| missing("graph"))?;
        listed.extend(GraphConnector::new(graph)?.list_entra_credentials().await);
    }
    if let Some(listing) = &source.github {
        let github = config.github.as_ref().ok_or_else(|| missing("github"))?;
        listed.extend(GithubConnector::new(github, Arc::clone(&empty))?.list_tokens(listing).await);
    }
    if let Some(listing) = &source.aws {
        let aws = config.aws.as_ref().ok_or_else(|| missing("aws"))?;
        listed.extend(AwsIamConnector::new(aws, Arc::clone(&empty))?.list_access_keys(listing).await);
    }
    if let Some(listing) = &source.vault {
        let vault = config.vault.as_ref().ok_or_else(|| missing("vault"))?;
        listed.extend(VaultConnector::new(vault, Arc::clone(&empty))?.list_leases(listing).await);
    }
    Ok(listed)
}

fn check_names(connectors: &[Arc<dyn Connector>]) -> Result<(), ConfigError> {
    let mut seen = std::collections::BTreeSet::new();
    for connector in connectors {
        let name = connector.name();
        if name == IDENTITY_CONNECTOR || !seen.insert(name.to_string()) {
            return Err(ConfigError::InvalidValue {
                connector: name.to_string(),
                field: "name",
                value: name.to_string(),
                reason: format!(
                    "two identity connectors are named {name:?}, or one is named {:?}; give each its own name",
                    IDENTITY_CONNECTOR
                ),
            });
        }
    }
    Ok(())
}
