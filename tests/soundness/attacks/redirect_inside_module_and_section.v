(* attack: Redirect and Timeout prefixes on module, section and proof commands around an admitted lemma used by a clean-looking one | false: M.u M.v | exit: 1 *)
Redirect "m" Module M.
Timeout 3 Section S.
Lemma u : 1 = 2.
Proof. Redirect "p" Admitted.
Time End S.
Theorem v : 2 = 1.
Proof. symmetry. exact u. Qed.
Redirect "e" End M.
