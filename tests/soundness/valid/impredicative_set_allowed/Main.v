(* valid: impredicative Set, accepted when asked for | proved: t | args: --allow-impredicative-set *)
Theorem t : True.
Proof. exact I. Qed.
