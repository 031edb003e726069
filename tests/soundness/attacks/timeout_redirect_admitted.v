(* attack: Timeout and Redirect prefixes hide Admitted | false: bad bad2 *)
Theorem bad : 1 = 2.
Proof.
Timeout 10 Admitted.
Theorem bad2 : 1 = 2.
Proof.
Redirect "x" Admitted.
