(* attack: load native code from the file's folder | false: t *)
Add ML Path ".".
Declare ML Module "evil:evil.plugin".
Theorem t : 1 = 2.
Proof. Admitted.
