(* attack: an admitted obligation | false: x_obligation_1 *)
Require Import Coq.Program.Program.
Program Definition x : {n : nat | 1 = 2} := 0.
Next Obligation. Admitted.
