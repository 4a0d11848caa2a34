;;; m21-eglot.el --- use m21-lsp with eglot  -*- lexical-binding: t -*-

;; Load this file (or copy the form into your init file).  The key comes from the
;; environment Emacs was started from: export M21_API_KEY=...
;;
;; Eglot manages one server per buffer, so this replaces your usual Python server in these
;; buffers.  Select a region, then `M-x eglot-code-action-rewrite' (Refactor with m2-1) or
;; `M-x eglot-code-actions' (all actions, including Explain with m2-1).  Eglot does not show
;; progress: the server sends a message when the work starts and one with the outcome.
;; The command is answered at once and the model works in the background, so Emacs is not
;; blocked and eglot's default 10 s request timeout is enough: there is nothing to raise.
;; After Explain, hover the same code to read the explanation.

(with-eval-after-load 'eglot
  (add-to-list 'eglot-server-programs
               '((python-mode python-ts-mode)
                 . ("m21-lsp" "serve" "--stdio"
                    :initializationOptions (:hover "cached")))))

(provide 'm21-eglot)
;;; m21-eglot.el ends here
