(* Stands in for a hostile plugin: it only says that it ran (an attack that loads it must
   still be refused: see the case that names it). *)
let () = prerr_endline "SPRINGTAIL-TEST: a project plugin ran inside Coq"
