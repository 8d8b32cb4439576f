//! The approval page: a replaceable template whose slots are filled with escaped values. The
//! form (login, scope checkboxes, CSRF field, approve and deny) is a fixed layout inserted at
//! `{{form}}`, so a template can restyle the page but never drop the CSRF field.

use std::fmt::Write as _;

/// The built-in template.
pub const DEFAULT_TEMPLATE: &str = include_str!("../../templates/approve.html");

/// Page texts from `[auth_server]`.
#[derive(Clone, Debug)]
pub struct PageSettings {
    pub template: String,
    pub title: String,
    pub heading: String,
    pub logo: Option<String>,
    pub footer: String,
}

impl Default for PageSettings {
    fn default() -> Self {
        PageSettings {
            template: DEFAULT_TEMPLATE.to_string(),
            title: "Authorize access".into(),
            heading: "Authorize access".into(),
            logo: None,
            footer: "synaptic".into(),
        }
    }
}

/// A template that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("approval template: {0}")]
pub struct TemplateError(pub &'static str);

/// Check a template: exactly one `{{form}}` slot.
pub fn check_template(t: &str) -> Result<(), TemplateError> {
    match t.matches("{{form}}").count() {
        1 => Ok(()),
        0 => Err(TemplateError("the template has no {{form}} slot")),
        _ => Err(TemplateError(
            "the template has more than one {{form}} slot",
        )),
    }
}

/// HTML-escape text for element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// What the form shows.
#[derive(Debug)]
pub struct FormData<'a> {
    pub client_name: &'a str,
    /// (scope, description)
    pub scopes: &'a [(String, String)],
    pub csrf: &'a str,
    pub error: Option<&'a str>,
    pub username: &'a str,
    /// Where the user is sent after choosing: the redirect URI's origin ([`redirect_origin`]).
    pub redirect_origin: &'a str,
}

/// What the page names as the place the user will be sent: the origin of the redirect URI
/// (`https://app.example`, `http://127.0.0.1:8080`); for a URI without a host (an app's own
/// scheme, `com.example.app:/callback`) the URI without its query and fragment.
pub fn redirect_origin(redirect_uri: &str) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(u) if u.host_str().is_some() => {
            let mut o = format!("{}://{}", u.scheme(), u.host_str().unwrap_or_default());
            if let Some(p) = u.port() {
                let _ = write!(o, ":{p}");
            }
            o
        }
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => redirect_uri
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

/// Render the whole page.
pub fn render(settings: &PageSettings, form: &FormData<'_>) -> String {
    let mut f = String::new();
    let _ = write!(
        f,
        "<form method=\"post\" action=\"/oauth2/authorize\" id=\"approval\">\n\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{}\">\n",
        escape(form.csrf)
    );
    if let Some(e) = form.error {
        let _ = writeln!(f, "<p class=\"error\" role=\"alert\">{}</p>", escape(e));
    }
    let _ = write!(
        f,
        "<p><strong id=\"client-name\">{}</strong> asks for access to your account.</p>\n\
         <p class=\"destination\">When you choose, you will be sent to <strong id=\"redirect-origin\">{}</strong>.</p>\n\
         <label>User name <input type=\"text\" name=\"username\" id=\"username\" autocomplete=\"username\" value=\"{}\" required></label>\n\
         <label>Password <input type=\"password\" name=\"password\" id=\"password\" autocomplete=\"current-password\" required></label>\n\
         <fieldset><legend>Grant these permissions</legend>\n",
        escape(form.client_name),
        escape(form.redirect_origin),
        escape(form.username)
    );
    for (name, desc) in form.scopes {
        let _ = writeln!(
            f,
            "<label><input type=\"checkbox\" name=\"scope\" value=\"{n}\" id=\"scope-{n}\" checked> {d} <code>{n}</code></label>",
            n = escape(name),
            d = escape(desc)
        );
    }
    f.push_str(
        "</fieldset>\n<div class=\"buttons\">\n\
         <button type=\"submit\" name=\"action\" value=\"approve\" id=\"approve\" class=\"primary\">Approve</button>\n\
         <button type=\"submit\" name=\"action\" value=\"deny\" id=\"deny\" class=\"secondary\" formnovalidate>Deny</button>\n\
         </div>\n</form>",
    );
    let logo = settings
        .logo
        .as_deref()
        .map(|l| format!("<img src=\"{}\" alt=\"\" class=\"logo\">", escape(l)))
        .unwrap_or_default();
    // slots are filled in one pass so a value can never introduce another slot
    let mut out = String::with_capacity(settings.template.len() + f.len());
    let mut rest = settings.template.as_str();
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else {
            out.push_str(&rest[i..]);
            rest = "";
            break;
        };
        match &after[..j] {
            "form" => out.push_str(&f),
            "title" => out.push_str(&escape(&settings.title)),
            "heading" => out.push_str(&escape(&settings.heading)),
            "footer" => out.push_str(&escape(&settings.footer)),
            "logo" => out.push_str(&logo),
            "client_name" => out.push_str(&escape(form.client_name)),
            _ => {}
        }
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    out
}

/// A plain error page (client or redirect URI not validated: never redirect).
pub fn error_page(message: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Authorization error</title></head>\
         <body><h1>Authorization error</h1><p>{}</p></body></html>",
        escape(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_keeps_csrf() {
        let s = PageSettings {
            template: "<h1>{{heading}}</h1>{{footer}}".into(),
            ..Default::default()
        };
        assert!(check_template(&s.template).is_err());
        let s = PageSettings {
            template: "<h1>{{heading}}</h1>{{form}}{{unknown}}".into(),
            heading: "<script>{{form}}</script>".into(),
            ..Default::default()
        };
        let scopes = vec![("view".to_string(), "<b>View</b> \"x\"".to_string())];
        let html = render(
            &s,
            &FormData {
                client_name: "<img src=x onerror=alert(1)>",
                scopes: &scopes,
                csrf: "abc",
                error: None,
                username: "",
                redirect_origin: "https://app.example\"><script>",
            },
        );
        assert!(html.contains("sent to <strong id=\"redirect-origin\">https://app.example&quot;&gt;&lt;script&gt;</strong>"));
        // Approve comes first (tab order) and is the primary button
        let approve = html.find("id=\"approve\" class=\"primary\"").unwrap();
        let deny = html.find("id=\"deny\" class=\"secondary\"").unwrap();
        assert!(approve < deny);
        assert!(!html.contains("tabindex"));
        assert!(html.contains("&lt;script&gt;{{form}}&lt;/script&gt;"));
        assert_eq!(html.matches("name=\"csrf_token\"").count(), 1);
        assert!(!html.contains("<img src=x"));
        assert!(html.contains("&lt;b&gt;View&lt;/b&gt; &quot;x&quot;"));
        assert!(!html.contains("unknown"));
    }

    #[test]
    fn redirect_origin_is_scheme_host_and_port() {
        assert_eq!(
            redirect_origin("https://app.example/cb?x=1#f"),
            "https://app.example"
        );
        assert_eq!(
            redirect_origin("http://127.0.0.1:8080/a/cb"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            redirect_origin("com.example.app:/callback?code=1"),
            "com.example.app:/callback"
        );
        assert_eq!(redirect_origin("not a uri?x#y"), "not a uri");
    }
}
