//! Commonly impersonated brands.
//!
//! Each brand lists its legitimate registrable domains (a domain of the
//! brand is never its own lookalike), the distinctive words that name it in
//! domains, and the names that identify it in a display name. The list
//! covers the brands most often named in credential, delivery, payment and
//! tech-support lures; organisations add their own in the configuration.

use aho_corasick::AhoCorasick;

use crate::config::BrandConfig;

/// One brand.
#[derive(Debug, Clone)]
pub(crate) struct Brand {
    pub name: String,
    /// Legitimate registrable domains; the first is the main one.
    pub domains: Vec<String>,
    /// Words that name the brand inside other domains.
    pub keywords: Vec<String>,
    /// Lowercase names that identify the brand in a From display name.
    pub display_names: Vec<String>,
}

impl Brand {
    pub fn main_domain(&self) -> &str {
        self.domains.first().map_or("", String::as_str)
    }

    /// True when `registrable_domain` belongs to the brand.
    pub fn owns(&self, registrable_domain: &str) -> bool {
        self.domains.iter().any(|domain| domain == registrable_domain)
    }
}

/// The built-in brands plus configured ones.
#[derive(Debug, Clone)]
pub(crate) struct BrandSet {
    brands: Vec<Brand>,
    /// Every display name of every brand, for one pass over a display name.
    display_names: AhoCorasick,
    /// Brand index of each pattern in `display_names`.
    display_name_brand: Vec<usize>,
}

/// Name, domains, domain keywords, display names.
type BuiltIn = (&'static str, &'static [&'static str], &'static [&'static str], &'static [&'static str]);

const BUILT_IN: &[BuiltIn] = &[
    (
        "Microsoft",
        &[
            "microsoft.com",
            "office.com",
            "office365.com",
            "microsoftonline.com",
            "live.com",
            "outlook.com",
            "hotmail.com",
            "sharepoint.com",
            "onedrive.com",
            "microsoft365.com",
            "azure.com",
            "windows.net",
            "msn.com",
            "skype.com",
            "xbox.com",
            "bing.com",
            "msft.net",
            "onmicrosoft.com",
            "cloud.microsoft",
            "1drv.ms",
            "aka.ms",
            "office.net",
            "microsoftstore.com",
            "windowsupdate.com",
        ],
        &["microsoft", "office365", "microsoftonline", "sharepoint", "onedrive", "outlook"],
        &[
            "microsoft",
            "office 365",
            "office365",
            "microsoft 365",
            "outlook",
            "sharepoint",
            "onedrive",
            "microsoft teams",
        ],
    ),
    (
        "Google",
        &[
            "google.com",
            "gmail.com",
            "googlesource.com",
            "googlegroups.com",
            "googlemail.com",
            "youtube.com",
            "googleusercontent.com",
            "gstatic.com",
            "google.co.uk",
            "goo.gl",
            "withgoogle.com",
            "googleapis.com",
            "doubleclick.net",
            "googleadservices.com",
            "googletagmanager.com",
            "googlesyndication.com",
            "google-analytics.com",
            "ggpht.com",
            "googlevideo.com",
            "blogger.com",
            "blogspot.com",
            "google.de",
            "google.fr",
        ],
        &["google", "gmail"],
        &["google", "gmail", "google workspace", "google drive"],
    ),
    (
        "Apple",
        &["apple.com", "icloud.com", "me.com", "mac.com", "apple.news", "itunes.com"],
        &["apple", "icloud", "itunes"],
        &["apple", "icloud", "apple support", "itunes"],
    ),
    (
        "Amazon",
        &[
            "amazon.com",
            "amazon.co.uk",
            "amazon.de",
            "amazon.fr",
            "amazon.es",
            "amazon.it",
            "amazon.ca",
            "amazon.co.jp",
            "amazonaws.com",
            "amazonses.com",
            "media-amazon.com",
            "images-amazon.com",
            "ssl-images-amazon.com",
            "awsapps.com",
            "amazon.in",
            "amazon.com.au",
            "amazon.nl",
            "amazon.se",
            "amazon.pl",
            "a2z.com",
            "primevideo.com",
        ],
        &["amazon", "amazonaws"],
        &["amazon", "amazon prime", "prime video", "aws", "amazon web services"],
    ),
    (
        "PayPal",
        &["paypal.com", "paypal.me", "paypalobjects.com", "paypal-communication.com", "xoom.com"],
        &["paypal"],
        &["paypal"],
    ),
    ("DocuSign", &["docusign.com", "docusign.net"], &["docusign"], &["docusign"]),
    (
        "Adobe",
        &["adobe.com", "adobesign.com", "acrobat.com", "adobelogin.com", "echosign.com"],
        &["adobe", "acrobat"],
        &["adobe", "adobe sign", "adobe acrobat", "adobe document cloud"],
    ),
    ("Dropbox", &["dropbox.com", "dropboxmail.com", "dropboxusercontent.com"], &["dropbox"], &["dropbox"]),
    ("DHL", &["dhl.com", "dhl.de", "dhl.co.uk", "dhl-news.com", "dpdhl.com"], &["dhl"], &["dhl", "dhl express"]),
    ("FedEx", &["fedex.com"], &["fedex"], &["fedex"]),
    ("UPS", &["ups.com"], &["ups"], &["ups", "ups my choice"]),
    ("USPS", &["usps.com", "usps.gov"], &["usps"], &["usps", "usps.com", "united states postal service"]),
    ("Royal Mail", &["royalmail.com", "royalmail.co.uk"], &["royalmail"], &["royal mail"]),
    (
        "Canada Post",
        &["canadapost.ca", "postescanada.ca", "canadapost-postescanada.ca"],
        &["canadapost", "postescanada"],
        &["canada post", "postes canada"],
    ),
    ("Australia Post", &["auspost.com.au"], &["auspost"], &["australia post", "auspost"]),
    ("Walmart", &["walmart.com", "walmart.ca"], &["walmart"], &["walmart"]),
    ("Netflix", &["netflix.com", "nflxext.com", "nflximg.net"], &["netflix"], &["netflix"]),
    ("Spotify", &["spotify.com"], &["spotify"], &["spotify"]),
    (
        "Meta",
        &["facebook.com", "facebookmail.com", "fb.com", "meta.com", "instagram.com", "whatsapp.com", "messenger.com"],
        &["facebook", "instagram", "whatsapp"],
        &["facebook", "meta", "instagram", "whatsapp", "meta business"],
    ),
    ("LinkedIn", &["linkedin.com", "lnkd.in"], &["linkedin"], &["linkedin"]),
    ("X", &["x.com", "twitter.com", "t.co"], &["twitter"], &["twitter"]),
    ("Wells Fargo", &["wellsfargo.com", "wf.com"], &["wellsfargo"], &["wells fargo"]),
    (
        "Chase",
        &["chase.com", "jpmorganchase.com", "jpmorgan.com"],
        &["jpmorgan"],
        &["chase bank", "jpmorgan chase", "chase online"],
    ),
    ("Bank of America", &["bankofamerica.com", "bofa.com"], &["bankofamerica"], &["bank of america"]),
    ("Citibank", &["citi.com", "citibank.com"], &["citibank"], &["citibank", "citi bank"]),
    (
        "American Express",
        &["americanexpress.com", "aexp.com", "amex.com"],
        &["americanexpress", "amex"],
        &["american express", "amex"],
    ),
    ("HSBC", &["hsbc.com", "hsbc.co.uk"], &["hsbc"], &["hsbc"]),
    ("Barclays", &["barclays.com", "barclays.co.uk"], &["barclays"], &["barclays"]),
    ("Santander", &["santander.com", "santander.co.uk"], &["santander"], &["santander"]),
    ("Coinbase", &["coinbase.com"], &["coinbase"], &["coinbase"]),
    ("Binance", &["binance.com"], &["binance"], &["binance"]),
    ("MetaMask", &["metamask.io"], &["metamask"], &["metamask"]),
    ("GitHub", &["github.com", "githubusercontent.com", "githubassets.com", "github.blog"], &["github"], &["github"]),
    ("GitLab", &["gitlab.com"], &["gitlab"], &["gitlab"]),
    ("Okta", &["okta.com", "oktapreview.com", "okta-emea.com"], &["okta"], &["okta"]),
    (
        "Salesforce",
        &["salesforce.com", "force.com", "salesforce-sites.com", "exacttarget.com"],
        &["salesforce"],
        &["salesforce"],
    ),
    ("Slack", &["slack.com", "slack-edge.com"], &["slack"], &["slack"]),
    ("Zoom", &["zoom.us", "zoom.com", "zoomgov.com"], &["zoom"], &["zoom video", "zoom meetings"]),
    ("Webex", &["webex.com", "cisco.com"], &["webex"], &["webex", "cisco webex"]),
    (
        "Intuit",
        &["intuit.com", "quickbooks.com", "turbotax.com"],
        &["intuit", "quickbooks"],
        &["intuit", "quickbooks", "turbotax"],
    ),
    (
        "Norton",
        &["norton.com", "nortonlifelock.com", "gen.digital"],
        &["norton"],
        &["norton", "norton 360", "nortonlifelock"],
    ),
    ("McAfee", &["mcafee.com"], &["mcafee"], &["mcafee"]),
    ("Geek Squad", &["geeksquad.com", "bestbuy.com"], &["geeksquad"], &["geek squad"]),
    ("Stripe", &["stripe.com"], &["stripe"], &["stripe"]),
    ("Booking.com", &["booking.com"], &["booking"], &["booking.com"]),
    ("Airbnb", &["airbnb.com"], &["airbnb"], &["airbnb"]),
    ("Steam", &["steampowered.com", "steamcommunity.com"], &["steampowered", "steamcommunity"], &["steam support"]),
    ("IRS", &["irs.gov"], &[], &["internal revenue service", "irs"]),
    ("HMRC", &["hmrc.gov.uk"], &["hmrc"], &["hmrc"]),
    ("WeTransfer", &["wetransfer.com", "we.tl"], &["wetransfer"], &["wetransfer"]),
    ("Box", &["box.com", "boxcdn.net"], &[], &["box.com"]),
    ("OpenAI", &["openai.com", "chatgpt.com"], &["openai", "chatgpt"], &["openai", "chatgpt"]),
    (
        "Atlassian",
        &["atlassian.com", "atlassian.net", "jira.com", "bitbucket.org"],
        &["atlassian", "bitbucket"],
        &["atlassian", "jira", "confluence", "bitbucket"],
    ),
    ("Yahoo", &["yahoo.com", "yahoo.co.jp", "ymail.com", "aol.com"], &["yahoo"], &["yahoo"]),
];

impl BrandSet {
    pub fn new(configured: &[BrandConfig]) -> Self {
        let mut brands: Vec<Brand> = BUILT_IN
            .iter()
            .map(|(name, domains, keywords, display_names)| Brand {
                name: name.to_string(),
                domains: domains.iter().map(|domain| domain.to_string()).collect(),
                keywords: keywords.iter().map(|keyword| keyword.to_string()).collect(),
                display_names: display_names.iter().map(|name| name.to_string()).collect(),
            })
            .collect();
        for brand in configured {
            let domains: Vec<String> = brand.domains.iter().map(|domain| domain.trim().to_ascii_lowercase()).collect();
            let mut keywords: Vec<String> = brand.keywords.iter().map(|keyword| keyword.to_lowercase()).collect();
            if keywords.is_empty()
                && let Some(label) = domains.first().and_then(|domain| domain.split('.').next())
            {
                keywords.push(label.to_string());
            }
            brands.push(Brand {
                name: brand.name.clone(),
                domains,
                keywords,
                display_names: vec![brand.name.to_lowercase()],
            });
        }
        let mut patterns = Vec::new();
        let mut display_name_brand = Vec::new();
        for (index, brand) in brands.iter().enumerate() {
            for name in &brand.display_names {
                patterns.push(name.clone());
                display_name_brand.push(index);
            }
        }
        let display_names = AhoCorasick::new(&patterns).expect("brand names build an automaton");
        BrandSet { brands, display_names, display_name_brand }
    }

    /// The brand at `index` in [`BrandSet::iter`] order.
    pub fn get(&self, index: usize) -> &Brand {
        &self.brands[index]
    }

    pub fn iter(&self) -> impl Iterator<Item = &Brand> {
        self.brands.iter()
    }

    /// The brand a display name names, when the sending domain is not the
    /// brand's. Names match as whole words, case-insensitively.
    pub fn named_in(&self, display_name: &str, registrable_domain: Option<&str>) -> Option<&Brand> {
        if display_name.is_empty() {
            return None;
        }
        let lower = display_name.to_lowercase();
        self.display_names
            .find_overlapping_iter(&lower)
            .filter(|found| {
                let before = lower[..found.start()].chars().next_back();
                let after = lower[found.end()..].chars().next();
                !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
            })
            .map(|found| &self.brands[self.display_name_brand[found.pattern().as_usize()]])
            .find(|brand| !registrable_domain.is_some_and(|domain| brand.owns(domain)))
    }

    /// Returns the brand one of whose domain keywords or one-word display names is
    /// `word` (lowercase).
    pub fn named_by_word(&self, word: &str) -> Option<&Brand> {
        self.brands.iter().find(|brand| {
            brand.keywords.iter().any(|keyword| keyword == word) || brand.display_names.iter().any(|name| name == word)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_name_brand() {
        let brands = BrandSet::new(&[]);
        let found = brands.named_in("Microsoft 365 Team", Some("mailer-example.net"));
        assert_eq!(found.map(|brand| brand.name.as_str()), Some("Microsoft"));
        assert!(brands.named_in("Microsoft Account Team", Some("microsoft.com")).is_none());
        assert!(brands.named_in("Chase Smith", Some("example.net")).is_none());
        assert!(brands.named_in("Groups", Some("example.net")).is_none());
    }

    #[test]
    fn configured_brand_gets_keyword() {
        let brands = BrandSet::new(&[BrandConfig {
            name: "Contoso Bank".to_string(),
            domains: vec!["contosobank.example".to_string()],
            keywords: Vec::new(),
        }]);
        let brand = brands.iter().last().expect("configured brand");
        assert_eq!(brand.keywords, vec!["contosobank".to_string()]);
    }
}
