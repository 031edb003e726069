Declare ML Module "/tmp/springtail_attack_plugins/cmt3:evil.plugin".
