(* valid: obligations proved | proved: x_obligation_1 *)
Require Import Coq.Program.Program.
Program Definition x : {n : nat | n = 0} := 0.
