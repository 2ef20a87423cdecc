# Global, before each user's own rules: what Rspamd marked as spam goes to Junk.
require ["fileinto"];
if header :is "X-Spam" "Yes" {
  fileinto "Junk";
  stop;
}
