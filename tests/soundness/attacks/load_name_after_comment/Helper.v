Declare ML Module "/tmp/springtail_attack_plugins/cmt2:evil.plugin".
