Declare ML Module "@CASE@/plugins/cmt2:evil.plugin".
