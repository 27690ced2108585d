import express, { Request, Response } from "express";

export interface Todo {
  id: number;
  title: string;
  done: boolean;
}

export function createApp() {
  const app = express();
  app.use(express.json());
  const todos: Todo[] = [];

  app.get("/health", (_req: Request, res: Response) => {
    res.json({ status: "ok" });
  });

  app.get("/todos", (_req: Request, res: Response) => {
    res.json(todos);
  });

  app.post("/todos", (req: Request, res: Response) => {
    const title = typeof req.body?.title === "string" ? req.body.title.trim() : "";
    if (!title) {
      res.status(400).json({ error: "title is required" });
      return;
    }
    const todo: Todo = { id: todos.length + 1, title, done: false };
    todos.push(todo);
    res.status(201).json(todo);
  });

  return app;
}
