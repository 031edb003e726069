Declare ML Module "@CASE@/plugins/cmt3:evil.plugin".
