(* valid: a standard-library axiom, allowed by kernel name | proved: t | args: --allow-axiom Coq.Logic.Classical_Prop.classic *)
Require Import Coq.Logic.Classical.
Theorem t : forall P : Prop, P \/ ~ P.
Proof. exact classic. Qed.
