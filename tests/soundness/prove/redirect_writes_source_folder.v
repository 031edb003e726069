(* prove: the file before the theorem writes with a relative path (Redirect, Extraction); the interactive session must not run in the source folder | theorem: bad *)
Redirect "written_by_prove" Print nat.
Require Extraction.
Extraction "written_by_prove.ml" nat.
Theorem bad : 1 = 2.
Proof. Admitted.
