# IMAPSieve: a message moved or copied into Junk trains Rspamd's Bayes as spam.
require ["vnd.dovecot.pipe", "copy", "imapsieve", "environment", "variables"];
if environment :matches "imap.user" "*" {
  set "user" "${1}";
}
pipe :copy "rspamd-learn" ["spam", "${user}"];
